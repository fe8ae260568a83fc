import { randomUUID } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { canonicalBytes, type Json } from '../common/canonical-json.ts';
import { fromHex, toHex, wipe } from '../common/bytes.ts';
import { AuthenticationError, ConflictError, CustosError, NotFoundError, ProtocolAbort, ReuseError, ValidationError } from '../common/errors.ts';
import { isEcdsa, isScheme, type Scheme } from '../common/schemes.ts';
import { BROADCAST, payloadDigest, type Inbound } from '../protocols/message.ts';
import type { DkgParams, DkgResult } from '../protocols/dkg/types.ts';
import * as dkg from '../protocols/dkg/index.ts';
import type { Keystore, SealContext } from '../hsm/keystore.ts';
import { EnvelopeVerifier, parseEnvelope, sealEnvelope, type Envelope } from '../wire/envelope.ts';
import { genesisHash, identityKeys, type Genesis } from '../wire/genesis.ts';
import { signAttestation, verifyKeyAttestations, type KeyAttestation } from '../wire/attestation.ts';
import { dkgSessionId } from '../wire/dkg-session.ts';
import { attestTime } from '../wire/time-attestation.ts';
import { quorumName, signNonceCommitment, signingBinding, verifyNonceCommitment, type SignedNonceCommitment } from '../wire/nonce-commitment.ts';
import { commitNonce, partialSign, publicKeyReport, type KeyPublic } from '../signer/frost-signer.ts';
import { commitmentIsValid } from '../protocols/frost/index.ts';
import type { DkgSessionRow, NodeStore } from './store.ts';
import { EcdsaNode, type EcdsaFaults } from './ecdsa.ts';
import { requireColdParties } from './cold-key.ts';
import { NodeAudit } from './audit.ts';
import { keyFacts, NodePolicy } from './policy-gate.ts';
import { parseIdentity } from '../policy/identity.ts';
import type { KeyFacts } from '../policy/authorize.ts';
import type { WorkerPool } from '../common/worker-pool.ts';
import type { Logger } from '../common/logger.ts';

/**
 * What a signer node does, independent of HTTP. Every input comes from the untrusted coordinator:
 * envelopes are verified against the genesis, rounds are bound to sessions, replays refused, and
 * secrets are unsealed by the HSM only for the one call that needs them.
 */
export type DkgStartInput = { keyId: string; sessionId: string; scheme: Scheme; threshold: number; parties: string[]; requiredParties?: string[] };
/** A node's DKG parameters: the protocol's, and the cold flag it records with the key. */
type NodeDkgParams = DkgParams & { requiredParties?: string[] };


/**
 * TEST ONLY: ways to make this node misbehave, so adversarial tests can check that honest parties
 * name it. Never read from configuration; only a test constructing a NodeService can pass them.
 */
export type NodeFaults = {
  /** Rewrites this node's DKG round-one broadcast before it is signed. */
  dkgRound1?: (payload: unknown, params: DkgParams) => unknown;
  /** Rewrites this node's DKG round-two broadcast before it is signed. */
  dkgRound2?: (payload: unknown, params: DkgParams, round1: { from: string; payload: unknown }[]) => unknown;
  /** Replaces the signature share this node releases. */
  signatureShare?: (share: string) => string;
  /** Threshold-ECDSA misbehaviour (node/ecdsa.ts). */
  ecdsa?: EcdsaFaults;
};

/** The dkg/3 broadcast: the party's key attestation and the echo that closes round two. */
export type Round3Payload = { attestation: KeyAttestation; echoes: Record<string, { digest: string; signature: string }> };

function parseRound3(from: string, payload: unknown): Round3Payload {
  const p = payload as Partial<Round3Payload> | null;
  if (!p || typeof p !== 'object' || !p.attestation || typeof p.attestation !== 'object' || !p.echoes || typeof p.echoes !== 'object') {
    throw new ProtocolAbort('dkg.bad_message', from, `${from}'s dkg/3 message is malformed`);
  }
  if (p.attestation.node !== from) throw new ProtocolAbort('dkg.bad_attestation', from, `${from} sent an attestation in another node's name`);
  // Echo entries are compared byte for byte: only canonical lowercase 32-byte digests are accepted,
  // so a case change cannot make an honest sender's signature "prove" an equivocation.
  for (const [sender, echo] of Object.entries(p.echoes)) {
    if (!echo || typeof echo !== 'object' || typeof echo.digest !== 'string' || !/^[0-9a-f]{64}$/.test(echo.digest) || typeof echo.signature !== 'string' || !/^[0-9a-f]{128}$/.test(echo.signature)) {
      throw new ProtocolAbort('dkg.bad_message', from, `${from}'s dkg/3 echo of ${sender} is malformed`);
    }
  }
  return p as Round3Payload;
}

export class NodeService {
  readonly id: string;
  readonly cluster: string;
  readonly #genesis: Genesis;
  readonly #ks: Keystore;
  readonly #store: NodeStore;
  readonly #verifier: EnvelopeVerifier;
  readonly #log: Logger;
  readonly #faults: NodeFaults;
  /** Threshold ECDSA (DKLs23) presigning and signing. */
  readonly ecdsa: EcdsaNode;
  /** This node's hash-chained, HSM-signed audit log. */
  readonly audit: NodeAudit;
  /** This node's own policy enforcement: active version, first sights, velocity counters. */
  readonly policy: NodePolicy;
  readonly #identityHex: Record<string, string>;

  constructor(opts: { id: string; genesis: Genesis; keystore: Keystore; store: NodeStore; logger: Logger; faults?: NodeFaults; workers?: WorkerPool; clock?: () => Date; expiryClock?: () => Date }) {
    this.#faults = opts.faults ?? {};
    this.id = opts.id;
    this.#genesis = opts.genesis;
    this.cluster = genesisHash(opts.genesis);
    this.#ks = opts.keystore;
    this.#store = opts.store;
    this.#log = opts.logger;
    const me = opts.genesis.nodes.find((n) => n.id === opts.id);
    if (!me) throw new CustosError('config.not_in_genesis', `node ${opts.id} is not listed in the genesis`);
    if (me.identityKey !== toHex(this.#ks.identityPublicKey())) throw new CustosError('config.identity_mismatch', `the identity key in this node's HSM token is not the one the genesis lists for ${opts.id}`);
    if (me.encryptionKey !== toHex(this.#ks.encryptionPublicKey())) throw new CustosError('config.identity_mismatch', `the encryption key in this node's HSM token is not the one the genesis lists for ${opts.id}`);
    this.#verifier = new EnvelopeVerifier(this.cluster, identityKeys(opts.genesis));
    this.audit = new NodeAudit(this.#store, this.id, this.#sign);
    this.#identityHex = Object.fromEntries(opts.genesis.nodes.map((n) => [n.id, n.identityKey]));
    let genesisAdmins;
    try {
      genesisAdmins = opts.genesis.admins && { threshold: opts.genesis.admins.threshold, identities: opts.genesis.admins.identities.map((x, i) => parseIdentity(x, `genesis.admins.identities[${i}]`)) };
      // One key under two names would let one person count as two admins.
      if (genesisAdmins && new Set(genesisAdmins.identities.map((i) => i.publicKey)).size !== genesisAdmins.identities.length) throw new Error('genesis admins: two admins share one public key');
    } catch (e) {
      throw new CustosError('config.invalid', (e as Error).message, { status: 500 });
    }
    this.policy = new NodePolicy({ store: this.#store, audit: this.audit, cluster: this.cluster, genesisAdmins, log: this.#log, now: opts.clock, expiryNow: opts.expiryClock, self: opts.id, keys: () => this.#store.listKeys().filter((k) => k.state === 'active').map(keyFacts) });
    this.ecdsa = new EcdsaNode({
      audit: this.audit,
      id: this.id, cluster: this.cluster, ks: this.#ks, store: this.#store, verifier: this.#verifier, log: this.#log, faults: this.#faults.ecdsa, pool: opts.workers,
      identityKeys: Object.fromEntries(opts.genesis.nodes.map((n) => [n.id, n.identityKey])),
      envelope: (session, round, to, payload) => this.#envelope(session, round, to, payload),
      policy: this.policy,
    });
  }

  info() {
    return { node: this.id, cluster: this.cluster, identityKey: toHex(this.#ks.identityPublicKey()), keys: this.#store.listKeys().length };
  }

  #sign = (m: Uint8Array): Uint8Array => this.#ks.signIdentity(m);

  #envelope<P>(session: string, round: string, to: string, payload: P): Envelope<P> {
    return sealEnvelope({ cluster: this.cluster, session, round, from: this.id, to }, payload, this.#sign);
  }

  #ctx(keyId: string, purpose: SealContext['purpose']): SealContext {
    return { keyId, party: this.id, purpose };
  }

  // ---------------------------------------------------------------- DKG

  #checkDkgParams(i: DkgStartInput): NodeDkgParams {
    if (!isScheme(i.scheme)) throw new ValidationError(`unknown scheme ${JSON.stringify(i.scheme)}`);
    const ids = this.#genesis.nodes.map((n) => n.id);
    if (!Array.isArray(i.parties) || i.parties.some((p) => !ids.includes(p))) throw new AuthenticationError('dkg.unknown_party', 'the proposed parties include a node that is not in this node\'s genesis', 'coordinator');
    if (new Set(i.parties).size !== i.parties.length) throw new ValidationError('parties must be distinct');
    const ordered = ids.filter((p) => i.parties.includes(p));
    if (ordered.join(',') !== i.parties.join(',')) throw new ValidationError('parties must be listed in genesis order');
    if (!i.parties.includes(this.id)) throw new ValidationError(`this node (${this.id}) is not among the parties`);
    const { min, max } = this.#genesis.thresholds;
    if (!Number.isInteger(i.threshold) || i.threshold < min || i.threshold > Math.min(max, i.parties.length)) {
      throw new ValidationError(`threshold ${i.threshold} is outside what the genesis allows (${min}..${max}, at most the number of parties)`);
    }
    const required = i.requiredParties ?? [];
    if (!Array.isArray(required) || required.some((p) => !i.parties.includes(p)) || new Set(required).size !== required.length || required.join(',') !== i.parties.filter((p) => required.includes(p)).join(',')) {
      throw new ValidationError('requiredParties must be distinct parties of the key, in party order', { code: 'dkg.bad_required' });
    }
    if (required.length >= i.threshold) throw new ValidationError(`a key of threshold ${i.threshold} can require at most ${i.threshold - 1} parties in every quorum`, { code: 'dkg.bad_required' });
    const expected = dkgSessionId(i.keyId, { scheme: i.scheme, threshold: i.threshold, parties: i.parties, requiredParties: required });
    if (i.sessionId !== expected) throw new AuthenticationError('dkg.session_mismatch', 'the session id does not commit to the proposed parameters', 'coordinator');
    const encryptionKeys = Object.fromEntries(this.#genesis.nodes.filter((n) => i.parties.includes(n.id)).map((n) => [n.id, n.encryptionKey]));
    return { sessionId: i.sessionId, scheme: i.scheme, threshold: i.threshold, parties: i.parties, self: this.id, encryptionKeys, ...(required.length ? { requiredParties: required } : {}) };
  }

  dkgRound1(i: DkgStartInput): Envelope {
    const params = this.#checkDkgParams(i);
    const existing = this.#store.dkgForKey(i.keyId);
    if (existing) {
      if (existing.id === i.sessionId && existing.round === 'dkg/1' && existing.status === 'running') return JSON.parse(existing.output);
      throw new ConflictError('dkg.exists', `key ${i.keyId} already has a key generation session on this node`);
    }
    if (this.#store.getKey(i.keyId)) throw new ConflictError('key.exists', `key ${i.keyId} already exists on this node`);
    const { state, broadcast } = dkg.round1(params);
    const payload = (this.#faults.dkgRound1 ? this.#faults.dkgRound1(broadcast, params) : broadcast) as Json;
    const env = this.#envelope(params.sessionId, 'dkg/1', BROADCAST, payload);
    const sealed = this.#ks.seal(new TextEncoder().encode(dkg.serializeState(state)), this.#ctx(i.keyId, 'dkg-secret'));
    this.#store.insertDkg({ id: params.sessionId, key_id: i.keyId, params: JSON.stringify(params), round: 'dkg/1', sealed_state: sealed, output: JSON.stringify(env) });
    this.#log.info('dkg.round1', { session: params.sessionId, key: i.keyId });
    return env;
  }

  /** Verifies the relayed envelopes of `round` from every other party of the session. */
  #inbound(session: string, round: string, parties: string[], messages: unknown): { envelopes: Envelope[]; digest: string } {
    if (!Array.isArray(messages)) throw new ValidationError('messages must be an array of envelopes');
    const others = parties.filter((p) => p !== this.id);
    const envs = messages.map((m, k) => parseEnvelope(m, `messages[${k}]`));
    const from = new Set<string>();
    for (const e of envs) {
      this.#verifier.verify(e, { session, round, to: BROADCAST });
      if (!others.includes(e.from)) throw new AuthenticationError('envelope.unexpected_sender', `${e.from} is not another party of session ${session}`, 'coordinator');
      if (from.has(e.from)) throw new ValidationError(`two messages from ${e.from} for round ${round}`, { code: 'envelope.duplicate' });
      from.add(e.from);
    }
    const missing = others.filter((p) => !from.has(p));
    if (missing.length) throw new ValidationError(`round ${round} is missing messages from ${missing.join(', ')}`, { code: 'envelope.missing' });
    envs.sort((a, b) => parties.indexOf(a.from) - parties.indexOf(b.from));
    const digest = toHex(sha256(canonicalBytes(envs.map((e) => e.sig))));
    return { envelopes: envs, digest };
  }

  #runningDkg(sessionId: string, expectRound: string, nextRound: string, inputsDigest: string) {
    const s = this.#store.getDkg(sessionId);
    if (!s) throw new NotFoundError('dkg_session', sessionId);
    if (s.status === 'aborted') throw new ConflictError('dkg.aborted', `session ${sessionId} was aborted: ${s.error ?? ''}`);
    if (s.round === nextRound) {
      if (s.inputs_digest === inputsDigest) return { row: s, replayOutput: JSON.parse(s.output) as Envelope };
      throw new ReuseError('envelope.replayed', `round ${expectRound} inputs of session ${sessionId} were already processed with other messages`, 'coordinator');
    }
    if (s.round !== expectRound || s.status !== 'running') throw new ConflictError('dkg.wrong_round', `session ${sessionId} is at ${s.round}, not ${expectRound}`);
    return { row: s, replayOutput: undefined };
  }

  /** Runs `fn`; a protocol abort ends the session for good (its sealed state is destroyed). */
  #guardDkg<T>(sessionId: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof ProtocolAbort || e instanceof AuthenticationError) {
        this.#store.tx(() => {
          this.#store.abortDkg(sessionId, `${e.code}: ${e.message}`);
          this.audit.append('dkg.aborted', { session: sessionId, code: e.code, culprit: e.culprit ?? null });
        });
        this.#log.warn('dkg.abort', { session: sessionId, code: e.code, culprit: e.culprit ?? null });
      }
      throw e;
    }
  }

  /**
   * One DKG step: verify the previous round's envelopes from every other party, replay our stored
   * answer if they are exactly the ones we already processed, else unseal the state, run `step`
   * and persist what it returns together with the replay records, in one transaction.
   */
  #dkgStep(sessionId: string, inRound: string, outRound: string, messages: unknown,
    step: (ctx: { row: DkgSessionRow; params: DkgParams; state: dkg.DkgState; inbound: Inbound<unknown>[]; envelopes: Envelope[] }) => { env: Envelope; persist: () => void; sealedState: Uint8Array | null }): Envelope {
    const s0 = this.#store.getDkg(sessionId);
    if (!s0) throw new NotFoundError('dkg_session', sessionId);
    const params = JSON.parse(s0.params) as DkgParams;
    return this.#guardDkg(sessionId, () => {
      const { envelopes, digest } = this.#inbound(sessionId, inRound, params.parties, messages);
      const { row, replayOutput } = this.#runningDkg(sessionId, inRound, outRound, digest);
      if (replayOutput) return replayOutput;
      const state = dkg.parseState(new TextDecoder().decode(this.#ks.unseal(row.sealed_state!, this.#ctx(row.key_id, 'dkg-secret'))));
      const inbound = envelopes.map((e) => ({ from: e.from, payload: e.payload as unknown, signature: e.sig }));
      const out = step({ row, params, state, inbound, envelopes });
      this.#store.tx(() => {
        for (const e of envelopes) this.#store.recordSeen(sessionId, e.round, e.from, toHex(payloadDigest(e.payload)));
        out.persist();
        this.#store.advanceDkg(sessionId, outRound, out.sealedState, digest, JSON.stringify(out.env), 'running');
      });
      return out.env;
    });
  }

  dkgRound2(sessionId: string, messages: unknown): Envelope {
    return this.#dkgStep(sessionId, 'dkg/1', 'dkg/2', messages, ({ row, params, state, inbound, envelopes }) => {
      const out = this.#ks.withEncryptionKey((sk) => dkg.round2(state, inbound as Parameters<typeof dkg.round2>[1], sk, this.#verifier.authenticator(sessionId)));
      const payload = (this.#faults.dkgRound2 ? this.#faults.dkgRound2(out.broadcast, params, envelopes.map((e) => ({ from: e.from, payload: e.payload }))) : out.broadcast) as Json;
      const env = this.#envelope(sessionId, 'dkg/2', BROADCAST, payload);
      const sealedState = this.#ks.seal(new TextEncoder().encode(dkg.serializeState(out.state)), this.#ctx(row.key_id, 'dkg-secret'));
      return { env, sealedState, persist: () => {} };
    });
  }

  dkgFinish(sessionId: string, messages: unknown): Envelope {
    return this.#dkgStep(sessionId, 'dkg/2', 'dkg/3', messages, ({ row, params, state, inbound, envelopes }) => {
      const result: DkgResult = dkg.finish(state, inbound as Parameters<typeof dkg.finish>[1], this.#verifier.authenticator(sessionId));
      const { secretShare, pairs, ...pub } = result;
      const keyPublic: KeyPublic = pub;
      const report = isEcdsa(params.scheme) ? { publicKey: pub.groupCommitments[0] } : publicKeyReport(keyPublic);
      const sealedShare = this.#ks.seal(secretShare, this.#ctx(row.key_id, 'key-share'));
      wipe(secretShare);
      // The DKLs23 pairwise setup is sealed apart from the share: presigning needs it, online signing does not.
      const sealedSetup = pairs ? this.#ks.seal(new TextEncoder().encode(JSON.stringify(pairs)), this.#ctx(row.key_id, 'dkls-setup')) : undefined;
      const requiredParties = (params as NodeDkgParams).requiredParties;
      const attestation = signAttestation(this.cluster, this.id, { keyId: row.key_id, scheme: params.scheme, threshold: params.threshold, parties: params.parties, publicKey: report.publicKey, transcriptHash: result.transcriptHash, chainCode: result.chainCode, requiredParties }, this.#sign);
      // The echo that closes round two: what this node received from every other party.
      const echoes = Object.fromEntries(envelopes.map((e) => [e.from, { digest: toHex(payloadDigest(e.payload)), signature: e.sig }]));
      const payload: Round3Payload = { attestation, echoes };
      const env = this.#envelope(sessionId, 'dkg/3', BROADCAST, payload as unknown as Json);
      this.#log.info('dkg.finished', { session: sessionId, key: row.key_id });
      // The DKG secret state is dropped (null): from here only the sealed share remains.
      return {
        env, sealedState: null,
        persist: () => {
          this.#store.insertKey({ id: row.key_id, scheme: params.scheme, threshold: params.threshold, parties: JSON.stringify(params.parties), public: JSON.stringify({ ...keyPublic, ...report, ...(requiredParties ? { requiredParties } : {}) }), sealed_share: sealedShare, attestation: JSON.stringify(attestation) });
          if (sealedSetup) this.#store.setKeySetup(row.key_id, sealedSetup);
        },
      };
    });
  }

  /** The closing echo of the last broadcast: every party must have attested the same key. */
  dkgConfirm(sessionId: string, messages: unknown): { keyId: string; publicKey: string; attestations: KeyAttestation[] } {
    const s0 = this.#store.getDkg(sessionId);
    if (!s0) throw new NotFoundError('dkg_session', sessionId);
    const params = JSON.parse(s0.params) as NodeDkgParams;
    return this.#guardDkg(sessionId, () => {
      const { envelopes, digest } = this.#inbound(sessionId, 'dkg/3', params.parties, messages);
      const key = this.#store.getKey(s0.key_id);
      if (!key) throw new ConflictError('dkg.wrong_round', `session ${sessionId} has not finished on this node`);
      const mine = JSON.parse(key.attestation) as KeyAttestation;
      if (s0.status === 'aborted') throw new ConflictError('dkg.aborted', `session ${sessionId} was aborted: ${s0.error ?? ''}`);
      const theirs = envelopes.map((e) => parseRound3(e.from, e.payload));
      const all = [mine, ...theirs.map((t) => t.attestation)].sort((a, b) => params.parties.indexOf(a.node) - params.parties.indexOf(b.node));
      if (s0.status === 'done') {
        if (s0.inputs_digest === digest) return { keyId: s0.key_id, publicKey: mine.publicKey, attestations: all };
        throw new ReuseError('envelope.replayed', `session ${sessionId} was already confirmed with other messages`, 'coordinator');
      }
      const myEchoes = (JSON.parse(s0.output) as Envelope<Round3Payload>).payload.echoes;
      const auth = this.#verifier.authenticator(sessionId);
      envelopes.forEach((e, i) => {
        const { attestation: a, echoes } = theirs[i];
        // Round two's echo: a party whose dkg/2 broadcast differs between receivers equivocated,
        // provided the differing copy carries its signature; otherwise the echoer lied.
        for (const [sender, mineEcho] of Object.entries(myEchoes)) {
          if (sender === e.from) continue;
          const echo = echoes[sender];
          if (!echo || typeof echo.digest !== 'string' || typeof echo.signature !== 'string') throw new ProtocolAbort('dkg.bad_echo', e.from, `${e.from}'s round-two echo has no entry for ${sender}`);
          if (echo.digest === mineEcho.digest) continue;
          if (auth.verify(sender, 'dkg/2', BROADCAST, fromHex(echo.digest, 'digest', 32), echo.signature)) {
            throw new ProtocolAbort('dkg.equivocation', sender, `${sender} sent different signed round-two broadcasts to ${this.id} and ${e.from}`);
          }
          throw new ProtocolAbort('dkg.bad_echo', e.from, `${e.from} echoes a round-two broadcast of ${sender} that ${sender} did not sign`);
        }
        if (a.publicKey !== mine.publicKey || a.transcriptHash !== mine.transcriptHash || a.chainCode !== mine.chainCode) {
          throw new ProtocolAbort('dkg.inconsistent', e.from, `${e.from} attests another public key or transcript than this node computed`);
        }
      });
      verifyKeyAttestations(this.#genesis, this.cluster, mine, all);
      this.#store.tx(() => {
        for (const e of envelopes) this.#store.recordSeen(sessionId, e.round, e.from, toHex(payloadDigest(e.payload)));
        this.#store.activateKey(s0.key_id, JSON.stringify(all));
        this.audit.append('key.created', { key: s0.key_id, scheme: params.scheme, threshold: params.threshold, parties: params.parties, publicKey: mine.publicKey, transcriptHash: mine.transcriptHash, requiredParties: (params as NodeDkgParams).requiredParties ?? [] });
        this.#store.advanceDkg(sessionId, 'dkg/3', null, digest, s0.output, 'done');
      });
      return { keyId: s0.key_id, publicKey: mine.publicKey, attestations: all };
    });
  }

  // ---------------------------------------------------------------- nonces

  #activeKey(keyId: string) {
    const k = this.#store.getKey(keyId);
    if (!k || k.state !== 'active') throw new NotFoundError('key', keyId);
    const pub = JSON.parse(k.public) as KeyPublic & { publicKey: string };
    return { row: k, pub, parties: JSON.parse(k.parties) as string[] };
  }

  /** Generates `count` FROST round-one nonces for `keyId`, usable only with `quorum`. */
  generateNonces(keyId: string, quorum: string[], count: number): SignedNonceCommitment[] {
    const { row, pub, parties } = this.#activeKey(keyId);
    if (isEcdsa(row.scheme as Scheme)) throw new ValidationError(`key ${keyId} is an ECDSA key: it uses presignatures, not FROST nonces`, { code: 'key.wrong_scheme' });
    if (!Number.isInteger(count) || count < 1 || count > 1000) throw new ValidationError('count must be 1..1000');
    if (!Array.isArray(quorum) || quorum.some((q) => !parties.includes(q)) || new Set(quorum).size !== quorum.length) throw new ValidationError('quorum must be distinct parties of the key');
    if (quorum.length < row.threshold) throw new ValidationError(`quorum needs at least ${row.threshold} parties`);
    if (!quorum.includes(this.id)) throw new ValidationError(`quorum does not include this node (${this.id})`);
    requireColdParties(keyFacts(row), quorum);
    const q = quorumName(quorum, parties).split(',');
    const share = this.#ks.unseal(row.sealed_share, this.#ctx(keyId, 'key-share'));
    const out: SignedNonceCommitment[] = [];
    try {
      const rows: { id: string; commitment: string; sealed: Uint8Array }[] = [];
      for (let k = 0; k < count; k++) {
        const nonceId = randomUUID();
        const c = commitNonce(pub, share);
        const sealed = this.#ks.seal(c.nonceSecret, { keyId: `${keyId}/${nonceId}`, party: this.id, purpose: 'frost-nonce' });
        wipe(c.nonceSecret);
        const signed = signNonceCommitment(this.cluster, { keyId, quorum: q, party: this.id, nonceId, hiding: c.hiding, binding: c.binding }, this.#sign);
        rows.push({ id: nonceId, commitment: JSON.stringify(signed), sealed });
        out.push(signed);
      }
      this.#store.tx(() => { for (const r of rows) this.#store.insertNonce({ id: r.id, key_id: keyId, quorum: q.join(','), commitment: r.commitment, sealed: r.sealed }); });
    } finally {
      wipe(share);
    }
    return out;
  }

  // ---------------------------------------------------------------- signing

  #checkCommitments(keyId: string, scheme: Scheme, threshold: number, parties: string[], commitments: unknown): SignedNonceCommitment[] {
    if (!Array.isArray(commitments)) throw new ValidationError('commitments must be an array');
    const list = commitments as SignedNonceCommitment[];
    const signers = list.map((c) => c?.party);
    if (new Set(signers).size !== signers.length) throw new ValidationError('one commitment per signer');
    if (list.length < threshold) throw new ValidationError(`at least ${threshold} signers are needed`);
    const q = quorumName(signers, parties);
    for (const c of list) {
      if (!parties.includes(c.party)) throw new AuthenticationError('sign.unknown_signer', `${c.party} is not a party of key ${keyId}`, 'coordinator');
      if (c.keyId !== keyId) throw new AuthenticationError('sign.wrong_key', `commitment of ${c.party} is for another key`, 'coordinator');
      if (!Array.isArray(c.quorum) || c.quorum.join(',') !== q) throw new AuthenticationError('sign.wrong_quorum', `nonce ${c.nonceId} of ${c.party} is bound to quorum ${String(c.quorum)}, not this one (${q})`, 'coordinator');
      const node = this.#genesis.nodes.find((n) => n.id === c.party)!;
      if (!verifyNonceCommitment(this.cluster, c, fromHex(node.identityKey))) throw new AuthenticationError('sign.bad_commitment', `commitment claimed to be by ${c.party} is not signed by it`, 'coordinator');
      // Signed but invalid points: its signer made it, and nothing of ours is consumed for it.
      if (c.party !== this.id && !commitmentIsValid(scheme, c)) throw new ProtocolAbort('sign.bad_commitment', c.party, `${c.party} signed a nonce commitment whose points are not valid group elements`);
    }
    if (!signers.includes(this.id)) throw new ValidationError(`this node (${this.id}) is not among the signers`);
    return list;
  }

  /**
   * Phase one of a signature: this node durably records every nonce of the session as consumed
   * (its own and its co-signers') and returns a signed receipt. A co-signer releases its share only
   * with receipts from all other signers, so a nonce that any honest co-signer saw used can never
   * sign again, even on a node restored from an old backup.
   */
  signReserve(input: { sessionId: string; keyId: string; message: string; commitments: unknown; authorization: unknown }): Envelope {
    const { row, parties } = this.#activeKey(input.keyId);
    fromHex(input.message, 'message');
    const list = this.#checkCommitments(input.keyId, row.scheme as Scheme, row.threshold, parties, input.commitments);
    const facts = keyFacts(row);
    requireColdParties(facts, list.map((c) => c.party));
    const binding = signingBinding(input.keyId, input.message, list);
    const existing = this.#store.getSign(input.sessionId);
    if (existing) {
      if (existing.binding === binding) return JSON.parse(existing.receipt);
      throw new ReuseError('envelope.replayed', `session ${input.sessionId} already exists with another request`, 'coordinator');
    }
    // The node decides before anything is consumed: initiator, intent, rules, approvals, velocity.
    // What is signed is what the node decoded from the signed request, not what the coordinator says.
    const gate = this.policy.authorize(facts, input.authorization);
    if (toHex(gate.authorized.decoded.signBytes) !== input.message) {
      this.policy.refuse(new AuthenticationError('sign.payload_mismatch', 'the message to sign is not the payload of the authorised request', 'coordinator'), { kind: 'request', key: input.keyId, request: gate.authorized.digest });
    }
    const own = list.find((c) => c.party === this.id)!;
    const nonce = this.#store.getNonce(own.nonceId);
    if (!nonce || nonce.key_id !== input.keyId) throw new ReuseError('nonce.unknown', `nonce ${own.nonceId} is not one of this node's nonces for key ${input.keyId}`, 'coordinator');
    if (nonce.state !== 'ready') throw new ReuseError('nonce.reused', `nonce ${own.nonceId} was already used`, 'coordinator');
    const made = JSON.parse(nonce.commitment) as SignedNonceCommitment;
    if (made.hiding !== own.hiding || made.binding !== own.binding) throw new AuthenticationError('sign.bad_commitment', 'own commitment in the list differs from the one this node made', 'coordinator');
    const receipt = this.#envelope(input.sessionId, 'sign/receipt', BROADCAST, { keyId: input.keyId, binding, nonces: list.map((c) => ({ party: c.party, nonceId: c.nonceId })) });
    this.#store.tx(() => {
      gate.commit();
      this.audit.append('request.authorized', { request: gate.authorized.digest, key: input.keyId, session: input.sessionId, policyVersion: gate.policyVersion, rule: gate.authorized.decision.rule, approvers: gate.authorized.approvers });
      for (const c of list) this.#store.consumeNonce(c.party, c.nonceId, input.sessionId, binding);
      this.#store.reserveNonce(own.nonceId, input.sessionId);
      this.#store.insertSign({ id: input.sessionId, key_id: input.keyId, own_nonce: own.nonceId, binding, request: JSON.stringify({ message: input.message, commitments: list, authorization: input.authorization }), receipt: JSON.stringify(receipt) });
    });
    return receipt;
  }

  /** Phase two: with every co-signer's receipt in hand, burn the nonce durably, then release the share. */
  signShare(input: { sessionId: string; receipts: unknown; peerAnchors?: unknown }): Envelope {
    const s = this.#store.getSign(input.sessionId);
    if (!s) throw new NotFoundError('sign_session', input.sessionId);
    if (s.share) return JSON.parse(s.share);
    const req = JSON.parse(s.request) as { message: string; commitments: SignedNonceCommitment[]; authorization: unknown };
    const { row, pub } = this.#activeKey(s.key_id);
    // Decided again at release, under the policy active now: a session reserved before admins
    // froze or tightened the policy does not survive the change (refusals are audited).
    this.policy.authorize(keyFacts(row), req.authorization);
    const signers = req.commitments.map((c) => c.party);
    const { envelopes } = this.#inbound(input.sessionId, 'sign/receipt', signers, input.receipts);
    for (const e of envelopes) {
      const p = e.payload as { binding?: string; nonces?: { party: string; nonceId: string }[] };
      if (p.binding !== s.binding || !Array.isArray(p.nonces) || !p.nonces.some((n) => n.party === this.id && n.nonceId === s.own_nonce)) {
        throw new AuthenticationError('sign.bad_receipt', `receipt from ${e.from} does not cover this session's message and nonces`, 'coordinator');
      }
    }
    const nonce = this.#store.getNonce(s.own_nonce);
    if (!nonce || nonce.state !== 'reserved' || nonce.session !== input.sessionId || !nonce.sealed) {
      throw new ReuseError('nonce.reused', `nonce ${s.own_nonce} is not reserved for session ${input.sessionId}`, 'coordinator');
    }
    const share = this.#ks.unseal(row.sealed_share, this.#ctx(s.key_id, 'key-share'));
    const nonceSecret = this.#ks.unseal(nonce.sealed, { keyId: `${s.key_id}/${s.own_nonce}`, party: this.id, purpose: 'frost-nonce' });
    let sigShare: string;
    try {
      sigShare = partialSign(pub, share, nonceSecret, req.commitments.map((c) => ({ party: c.party, hiding: c.hiding, binding: c.binding })), fromHex(req.message, 'message'));
    } finally {
      wipe(share, nonceSecret);
    }
    if (this.#faults.signatureShare) sigShare = this.#faults.signatureShare(sigShare);
    // Burn before release, with the audit entry in the same transaction: once this commits the
    // nonce is gone, and a crash now loses only the share; if the entry cannot be written, nothing is released.
    let env: Envelope | undefined;
    this.#store.tx(() => {
      for (const e of envelopes) this.#store.recordSeen(input.sessionId, e.round, e.from, toHex(payloadDigest(e.payload)));
      const peers = this.audit.countersign(input.peerAnchors, this.#identityHex);
      const entry = this.audit.append('share.released', { scheme: row.scheme, key: s.key_id, session: input.sessionId, binding: s.binding, peers });
      env = this.#envelope(input.sessionId, 'sign/share', 'coordinator', { keyId: s.key_id, binding: s.binding, share: sigShare, audit: this.audit.anchor(entry) });
      this.#store.burnNonce(s.own_nonce);
      this.#store.setSignShare(input.sessionId, JSON.stringify(env));
    });
    this.#log.info('sign.share_released', { session: input.sessionId, key: s.key_id });
    return env!;
  }

  /** This node's clock, signed for one air-gap bundle's content digest (hex in, hex out). */
  attestTime(bundleDigest: string) {
    const a = attestTime({ cluster: this.cluster, node: this.id, bundle: fromHex(bundleDigest, 'bundle', 32) }, this.#sign);
    return { node: a.node, time: a.time, bundle: toHex(a.bundle), sig: toHex(a.sig) };
  }

  /** The active policy as its admins signed it (no effective cooldown times: those are this node's). */
  policyView() {
    const cur = this.policy.current();
    if (!cur) return { version: null, policy: null, signatures: [] };
    return { version: cur.version, digest: cur.digest, policy: cur.signed.policy, signatures: cur.signed.signatures };
  }

  #keyFor(request: unknown): KeyFacts {
    const keyId = (request as { keyId?: unknown } | null)?.keyId;
    if (typeof keyId !== 'string') throw new ValidationError('request.keyId must name a key', { code: 'request.invalid' });
    return keyFacts(this.#activeKey(keyId).row);
  }

  /** A request's first sight on this node: see NodePolicy.register. */
  registerRequest(authorization: { request?: unknown }) {
    return this.policy.register(this.#keyFor(authorization?.request), authorization);
  }

  dryRun(body: { request: unknown; signature?: string }) {
    return this.policy.dryRun(this.#keyFor(body.request), body);
  }

  /** The key's public package, identical on every party (no per-node fields). */
  keyPublic(keyId: string) {
    const { pub, parties, row } = this.#activeKey(keyId);
    const p = pub as KeyPublic & { publicKey: string; internalKey?: string; requiredParties?: string[] };
    return { scheme: row.scheme, threshold: row.threshold, parties, groupCommitments: p.groupCommitments, verifyingShares: p.verifyingShares, transcriptHash: p.transcriptHash, publicKey: p.publicKey, internalKey: p.internalKey, chainCode: p.chainCode, requiredParties: p.requiredParties };
  }

  listKeys() {
    return this.#store.listKeys().map((k) => ({ id: k.id, scheme: k.scheme, threshold: k.threshold, parties: JSON.parse(k.parties), state: k.state, readyNonces: this.#store.countReadyNonces(k.id), readyPresignatures: this.#store.countReadyPresignatures(k.id) }));
  }

}
