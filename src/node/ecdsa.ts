import { sha256 } from '@noble/hashes/sha2.js';
import { canonicalBytes, type Json } from '../common/canonical-json.ts';
import { fromHex, toHex } from '../common/bytes.ts';
import { AuthenticationError, ConflictError, NotFoundError, ProtocolAbort, ReuseError, ValidationError } from '../common/errors.ts';
import { isEcdsa } from '../common/schemes.ts';
import type { Logger } from '../common/logger.ts';
import { deriveNonHardened, parseDerivationPath } from '../crypto/bip32-public.ts';
import type { Keystore, SealContext } from '../hsm/keystore.ts';
import { BROADCAST } from '../protocols/message.ts';
import {
  presignRound1, presignRound2, presignRound3, ROUND1, ROUND2,
  type PresignKey, type PresignShare, type Round1Broadcast, type Round1Direct, type Round1State, type Round2Direct, type Round2State,
} from '../protocols/dkls23/presign.ts';
import type { PairMaterial } from '../protocols/dkls23/setup.ts';
import { partialSign, type PartialSignature } from '../protocols/dkls23/sign.ts';
import { parseEnvelope, type Envelope, type EnvelopeVerifier } from '../wire/envelope.ts';
import type { KeyRow, NodeStore } from './store.ts';
import type { WorkerPool } from '../common/worker-pool.ts';
import type { NodeAudit } from './audit.ts';
import { keyFacts, type NodePolicy } from './policy-gate.ts';
import type { KeyFacts } from '../policy/authorize.ts';
import { requireColdParties } from './cold-key.ts';

/**
 * A node's side of threshold ECDSA (DKLs23): presigning rounds for a batch of presignatures of one
 * quorum, and one-message online signing from a presignature. Every presignature is sealed by the
 * HSM, bound to its key and quorum, and burned — sealed blob deleted, request binding and answer
 * recorded, in one transaction — before the answer computed from it leaves the node.
 */
export type EcdsaFaults = {
  /** Rewrites a presigning message before it is signed (`to` is a party id or "*"). */
  presign?: (round: string, to: string, payload: unknown) => unknown;
  /** Replaces the partial signature this node releases. */
  partial?: (p: PartialSignature) => PartialSignature;
  /** Runs after the burn commits and before the answer is returned (a crash test throws here). */
  afterBurn?: (presignId: string) => void;
};

export type EcdsaDeps = {
  id: string;
  cluster: string;
  ks: Keystore;
  store: NodeStore;
  verifier: EnvelopeVerifier;
  log: Logger;
  envelope: <P>(session: string, round: string, to: string, payload: P) => Envelope<P>;
  faults?: EcdsaFaults;
  /** Worker threads for the presigning rounds; without it they run inline (tests). */
  pool?: WorkerPool;
  /** Identity keys of the genesis (hex), for echo checks inside a worker. */
  identityKeys: Record<string, string>;
  audit: NodeAudit;
  policy: NodePolicy;
};

type InboundMessage = { from: string; payload: never; signature: string };
type InboundSet = { broadcast: InboundMessage[]; direct: InboundMessage[]; all: { env: Envelope; digest: string }[]; digest: string };

type StepRun = (c: { key: PresignKey; row: KeyRow; pairs: Record<string, PairMaterial>; share: Uint8Array; state: unknown; quorum: string[]; inbound: InboundSet }) =>
  Promise<{ result: { messages: Envelope[] }; sealedState: Uint8Array | null; persist?: () => void }>;

const MAX_BATCH = 64;
const ID_RE = /^[A-Za-z0-9._:-]{1,100}$/;

export class EcdsaNode {
  readonly #d: EcdsaDeps;
  /** Presigning sessions with a round in progress: a second call for one is refused, not raced. */
  readonly #busy = new Set<string>();
  constructor(deps: EcdsaDeps) {
    this.#d = deps;
  }

  /** Runs a presigning round off the event loop when a worker pool is configured. */
  async #compute<T>(task: 'round1' | 'round2' | 'round3', args: Record<string, unknown>, inline: () => T): Promise<T> {
    if (!this.#d.pool) return inline();
    return this.#d.pool.run<T>(task, args);
  }

  #ctx(keyId: string, purpose: SealContext['purpose']): SealContext {
    return { keyId, party: this.#d.id, purpose };
  }

  #key(keyId: string): { row: KeyRow; parties: string[]; pub: { sessionId: string; verifyingShares: Record<string, string>; publicKey: string; chainCode: string } } {
    const row = this.#d.store.getKey(keyId);
    if (!row || row.state !== 'active') throw new NotFoundError('key', keyId);
    if (!isEcdsa(row.scheme as never)) throw new ValidationError(`key ${keyId} is a ${row.scheme} key, not an ECDSA key`, { code: 'key.wrong_scheme' });
    return { row, parties: JSON.parse(row.parties), pub: JSON.parse(row.public) };
  }

  #presignKey(keyId: string) {
    const k = this.#key(keyId);
    const key: PresignKey = { keySession: k.pub.sessionId, parties: k.parties, self: this.#d.id, verifyingShares: k.pub.verifyingShares };
    return { ...k, key };
  }

  #pairs(row: KeyRow): Record<string, PairMaterial> {
    if (!row.sealed_setup) throw new ConflictError('key.no_setup', `key ${row.id} has no DKLs23 pairwise setup on this node`);
    return JSON.parse(new TextDecoder().decode(this.#d.ks.unseal(row.sealed_setup, this.#ctx(row.id, 'dkls-setup'))));
  }

  #quorum(key: KeyFacts, quorum: unknown): string[] {
    const { parties, threshold } = key;
    if (!Array.isArray(quorum) || quorum.some((q) => typeof q !== 'string' || !parties.includes(q)) || new Set(quorum).size !== quorum.length) throw new ValidationError('quorum must list distinct parties of the key', { code: 'presign.bad_quorum' });
    const ordered = parties.filter((p) => quorum.includes(p));
    if (ordered.join(',') !== (quorum as string[]).join(',')) throw new ValidationError('quorum must be in key order', { code: 'presign.bad_quorum' });
    if (quorum.length < threshold) throw new ValidationError(`quorum needs at least ${threshold} parties`, { code: 'presign.bad_quorum' });
    if (!quorum.includes(this.#d.id)) throw new ValidationError(`quorum does not include this node (${this.#d.id})`, { code: 'presign.bad_quorum' });
    requireColdParties(key, quorum as string[]);
    return quorum as string[];
  }

  /** Presigning with a peer whose OT setup this node retired is refused, at every round. */
  #refuseRetired(keyId: string, quorum: readonly string[]): void {
    const row = this.#d.store.getKey(keyId);
    const retired = (JSON.parse(row?.retired_pairs ?? '[]') as string[]).filter((p) => quorum.includes(p));
    if (retired.length) throw new ConflictError('presign.pair_retired', `this node's OT setup with ${retired.join(', ')} was retired after a failed OT-extension check; key ${keyId} cannot presign with ${retired.length > 1 ? 'them' : 'it'} again`);
  }

  #out<P>(session: string, round: string, to: string, payload: P): Envelope {
    const f = this.#d.faults?.presign;
    return this.#d.envelope(session, round, to, (f ? f(round, to, payload) : payload) as Json);
  }

  /** Round 1 for a batch: fresh presignature ids, bound to key and quorum. */
  async presignRound1(input: { sessionId: string; keyId: string; quorum: string[]; presignIds: string[] }): Promise<{ messages: Envelope[] }> {
    const { row, key } = this.#presignKey(input.keyId);
    const quorum = this.#quorum(keyFacts(row), input.quorum);
    this.#refuseRetired(input.keyId, quorum);
    const ids = input.presignIds;
    if (!Array.isArray(ids) || ids.length < 1 || ids.length > MAX_BATCH || ids.some((i) => typeof i !== 'string' || !ID_RE.test(i)) || new Set(ids).size !== ids.length) {
      throw new ValidationError(`presignIds must be 1..${MAX_BATCH} distinct ids`, { code: 'presign.bad_ids' });
    }
    const existing = this.#d.store.getPresignSession(input.sessionId);
    if (existing) {
      if (existing.round === ROUND1 && existing.status === 'running' && existing.key_id === input.keyId && existing.ids === JSON.stringify(ids) && existing.quorum === quorum.join(',')) return JSON.parse(existing.output);
      throw new ConflictError('presign.exists', `presigning session ${input.sessionId} already exists on this node`);
    }
    // A presignature id names the multiplication sessions of every pair: run twice, the two runs
    // could be combined against us. Ids are claimed for good in round 1 (see below); this early
    // check only avoids computing for an id that is already taken.
    for (const id of ids) if (this.#d.store.presignIdClaimed(id)) throw new ReuseError('presign.id_reused', `presignature id ${id} was already used on this node`, 'coordinator');
    const pairs = this.#pairs(row);
    if (this.#busy.has(input.sessionId)) throw new ConflictError('presign.busy', `presigning session ${input.sessionId} is already being processed`);
    this.#busy.add(input.sessionId);
    let out: ReturnType<typeof presignRound1>;
    try {
      out = await this.#compute('round1', { key, pairs, quorum, ids }, () => presignRound1(key, pairs, quorum, ids));
    } finally {
      this.#busy.delete(input.sessionId);
    }
    if (this.#d.store.getPresignSession(input.sessionId)) throw new ConflictError('presign.exists', `presigning session ${input.sessionId} already exists on this node`);
    const messages = [
      this.#out(input.sessionId, ROUND1, BROADCAST, out.broadcast),
      ...Object.entries(out.direct).map(([to, p]) => this.#out(input.sessionId, ROUND1, to, p)),
    ];
    const sealed = this.#d.ks.seal(new TextEncoder().encode(JSON.stringify(out.state)), this.#ctx(`${input.keyId}/${input.sessionId}`, 'presign-state'));
    const result = { messages };
    this.#d.store.tx(() => {
      this.#d.store.claimPresignIds(ids, input.sessionId);
      this.#d.store.insertPresignSession({ id: input.sessionId, key_id: input.keyId, quorum: quorum.join(','), ids: JSON.stringify(ids), round: ROUND1, sealed_state: sealed, output: JSON.stringify(result) });
    });
    return result;
  }

  /** Verifies relayed envelopes of `round`: from the other quorum members, to "*" or to this node. */
  #inbound(session: string, round: string, quorum: string[], messages: unknown, shape: { broadcast: boolean; direct: boolean }): InboundSet {
    if (!Array.isArray(messages)) throw new ValidationError('messages must be an array of envelopes');
    const others = quorum.filter((p) => p !== this.#d.id);
    const envs = messages.map((m, k) => parseEnvelope(m, `messages[${k}]`));
    const broadcast = new Map<string, Envelope>();
    const direct = new Map<string, Envelope>();
    const digests = new Map<Envelope, string>();
    for (const e of envs) {
      const to = e.to === BROADCAST ? BROADCAST : this.#d.id;
      if ((to === BROADCAST && !shape.broadcast) || (to !== BROADCAST && !shape.direct)) throw new AuthenticationError('envelope.misaddressed', `a ${round} message from ${e.from} is addressed to ${e.to}`, 'coordinator');
      digests.set(e, toHex(this.#d.verifier.verify(e, { session, round, to })));
      if (!others.includes(e.from)) throw new AuthenticationError('envelope.unexpected_sender', `${e.from} is not another member of this quorum`, 'coordinator');
      const map = to === BROADCAST ? broadcast : direct;
      if (map.has(e.from)) throw new ValidationError(`two ${round} messages from ${e.from}`, { code: 'envelope.duplicate' });
      map.set(e.from, e);
    }
    for (const p of others) {
      if ((shape.broadcast && !broadcast.has(p)) || (shape.direct && !direct.has(p))) throw new ValidationError(`round ${round} is missing messages from ${p}`, { code: 'envelope.missing' });
    }
    const ordered = [...broadcast.values(), ...direct.values()].sort((a, b) => (a.from + a.to < b.from + b.to ? -1 : 1));
    const digest = toHex(sha256(canonicalBytes(ordered.map((e) => e.sig))));
    const inb = (e: Envelope) => ({ from: e.from, payload: e.payload as never, signature: e.sig });
    return { broadcast: [...broadcast.values()].map(inb), direct: [...direct.values()].map(inb), all: ordered.map((e) => ({ env: e, digest: digests.get(e)! })), digest };
  }

  async #step(sessionId: string, inRound: string, outRound: string, messages: unknown, shape: { broadcast: boolean; direct: boolean },
    run: StepRun): Promise<{ messages: Envelope[] }> {
    if (this.#busy.has(sessionId)) throw new ConflictError('presign.busy', `presigning session ${sessionId} is already being processed`);
    this.#busy.add(sessionId);
    try {
      return await this.#stepOnce(sessionId, inRound, outRound, messages, shape, run);
    } finally {
      this.#busy.delete(sessionId);
    }
  }

  async #stepOnce(sessionId: string, inRound: string, outRound: string, messages: unknown, shape: { broadcast: boolean; direct: boolean },
    run: StepRun): Promise<{ messages: Envelope[] }> {
    const s = this.#d.store.getPresignSession(sessionId);
    if (!s) throw new NotFoundError('presign_session', sessionId);
    if (s.status === 'aborted') throw new ConflictError('presign.aborted', `presigning session ${sessionId} was aborted: ${s.error ?? ''}`);
    const quorum = s.quorum.split(',');
    try {
      const inbound = this.#inbound(sessionId, inRound, quorum, messages, shape);
      if (s.round === outRound) {
        if (s.inputs_digest === inbound.digest) return JSON.parse(s.output) as { messages: Envelope[] };
        throw new ReuseError('envelope.replayed', `round ${inRound} of presigning session ${sessionId} was already processed with other messages`, 'coordinator');
      }
      if (s.round !== inRound || s.status !== 'running') throw new ConflictError('presign.wrong_round', `presigning session ${sessionId} is at ${s.round}, not ${inRound}`);
      this.#refuseRetired(s.key_id, quorum);
      const { row, key } = this.#presignKey(s.key_id);
      const pairs = this.#pairs(row);
      const state = JSON.parse(new TextDecoder().decode(this.#d.ks.unseal(s.sealed_state!, this.#ctx(`${s.key_id}/${sessionId}`, 'presign-state'))));
      const share = this.#d.ks.unseal(row.sealed_share, this.#ctx(row.id, 'key-share'));
      let out;
      try {
        out = await run({ key, row, pairs, share, state, quorum, inbound });
      } finally {
        share.fill(0);
      }
      this.#d.store.tx(() => {
        // Re-checked after the computation: a pair retired meanwhile (another session's failed
        // check) releases nothing more, pass or fail, so parallel sessions cannot each reveal a
        // bit of Δ by whether they are answered.
        this.#refuseRetired(s.key_id, quorum);
        for (const { env: e, digest } of inbound.all) this.#d.store.recordSeen(sessionId, `${e.round}>${e.to}`, e.from, digest);
        out.persist?.();
        this.#d.store.advancePresignSession(sessionId, outRound, out.sealedState, inbound.digest, JSON.stringify(out.result), out.sealedState ? 'running' : 'done');
      });
      return out.result;
    } catch (e) {
      if (e instanceof ProtocolAbort || e instanceof AuthenticationError || (e instanceof ConflictError && e.code === 'presign.pair_retired')) {
        // Identifiable abort: the session's sealed state is destroyed; nothing of it is used again.
        // A receiver that fails the KOS check has learnt one bit of our Δ if it guessed it (the
        // check passes exactly then): repeated sessions would reveal Δ, so the pair's base OTs
        // are never used again, and every running session with it ends now. One transaction, so
        // a crash cannot keep the abort and lose the retirement.
        this.#d.store.tx(() => {
          if (e.code === 'dkls.ote_check' && e.culprit) {
            this.#d.store.retirePair(s.key_id, e.culprit);
            this.#d.store.abortPresignSessionsWith(s.key_id, e.culprit, `presign.pair_retired: the OT setup with ${e.culprit} was retired`);
          }
          this.#d.store.abortPresignSession(sessionId, `${e.code}: ${e.message}`);
          this.#d.audit.append('presign.aborted', { key: s.key_id, session: sessionId, code: e.code, culprit: e.culprit ?? null });
        });
        this.#d.log.warn('presign.abort', { session: sessionId, code: e.code, culprit: e.culprit ?? null });
      }
      throw e;
    }
  }

  presignRound2(input: { sessionId: string; messages: unknown }): Promise<{ messages: Envelope[] }> {
    return this.#step(input.sessionId, ROUND1, ROUND2, input.messages, { broadcast: true, direct: true }, async ({ key, row, pairs, share, state, inbound }) => {
      const args = { key, pairs, share, state, broadcast: inbound.broadcast, direct: inbound.direct };
      const out = await this.#compute('round2', args, () => presignRound2(key, pairs, share, state as Round1State, inbound.broadcast as { from: string; payload: Round1Broadcast; signature: string }[], inbound.direct as { from: string; payload: Round1Direct; signature: string }[]));
      const messages = Object.entries(out.direct).map(([to, p]) => this.#out(input.sessionId, ROUND2, to, p));
      const sealedState = this.#d.ks.seal(new TextEncoder().encode(JSON.stringify(out.state)), this.#ctx(`${row.id}/${input.sessionId}`, 'presign-state'));
      return { result: { messages }, sealedState };
    });
  }

  /** Round 3: the checks; on success the presignatures are sealed one by one and announced (R only). */
  presignRound3(input: { sessionId: string; messages: unknown }): Promise<{ messages: Envelope[] }> {
    return this.#step(input.sessionId, ROUND2, 'presign/3', input.messages, { broadcast: false, direct: true }, async ({ key, row, pairs, share, state, quorum, inbound }) => {
      const args = { key, pairs, share, state, direct: inbound.direct, cluster: this.#d.cluster, session: input.sessionId, identityKeys: this.#d.identityKeys };
      const shares = await this.#compute('round3', args, () => presignRound3(key, pairs, share, state as Round2State, inbound.direct as { from: string; payload: Round2Direct; signature: string }[], this.#d.verifier.authenticator(input.sessionId)));
      // The pair mask keys ride with each presignature, so online signing unseals one small blob.
      const masks = Object.fromEntries(quorum.filter((p) => p !== this.#d.id).map((p) => [p, pairs[p].mask]));
      const sealed = shares.map((s) => ({ s, blob: this.#d.ks.seal(new TextEncoder().encode(JSON.stringify({ share: s, masks })), this.#ctx(`${row.id}/${s.id}`, 'presignature')) }));
      const ack = this.#d.envelope(input.sessionId, 'presign/3', 'coordinator', { keyId: row.id, quorum, presignatures: shares.map((s) => ({ id: s.id, R: s.R })) } as Json);
      return {
        result: { messages: [ack] }, sealedState: null,
        persist: () => { for (const { s, blob } of sealed) this.#d.store.insertPresignature({ id: s.id, key_id: row.id, quorum: quorum.join(','), session: input.sessionId, r_point: s.R, sealed: blob }); },
      };
    });
  }

  /**
   * Online signing: one message. The presignature is burned under the request's binding in the
   * same transaction that stores the answer; a repeat of the same request gets the same answer,
   * any other request is refused.
   */
  sign(input: { keyId: string; presignId: string; quorum: string[]; authorization: unknown; peerAnchors?: unknown }): Envelope {
    const { row, pub } = this.#key(input.keyId);
    // The key record as the policy and the cold-key check read it: parsed once per call.
    const facts = keyFacts(row);
    const { parties } = facts;
    const quorum = this.#quorum(facts, input.quorum);
    const p = this.#d.store.getPresignature(input.presignId);
    if (!p || p.key_id !== input.keyId) throw new ReuseError('presign.unknown', `presignature ${input.presignId} is not one of this node's presignatures for key ${input.keyId}`, 'coordinator');
    if (p.quorum !== quorum.join(',')) throw new AuthenticationError('presign.wrong_quorum', `presignature ${input.presignId} is bound to quorum ${p.quorum}, not ${quorum.join(',')}`, 'coordinator');
    // The node decides before anything is computed: initiator, intent, rules, approvals, velocity.
    // The digest signed is the one this node decoded from the initiator-signed payload.
    const gate = this.#d.policy.authorize(facts, input.authorization);
    const req = gate.authorized;
    const digest = req.decoded.signBytes;
    if (digest.length !== 32) throw new ValidationError('an ecdsa-secp256k1 key signs 32-byte digests', { code: 'sign.bad_payload' });
    const path = parseDerivationPath((input.authorization as { request: { derivationPath?: string } }).request.derivationPath ?? 'm');
    const derived = deriveNonHardened({ publicKey: fromHex(pub.publicKey), chainCode: fromHex(pub.chainCode) }, path);
    const bindingBytes = sha256(canonicalBytes({ domain: 'custos/dkls23/sign-binding/v2', keyId: input.keyId, presignId: input.presignId, quorum, request: req.digest, path: path.join('/') }));
    const binding = toHex(bindingBytes);
    if (p.state === 'burned') {
      if (p.binding === binding && p.response) return JSON.parse(p.response);
      throw new ReuseError('presign.reused', `presignature ${input.presignId} was already used for another request`, 'coordinator');
    }
    const opened = JSON.parse(new TextDecoder().decode(this.#d.ks.unseal(p.sealed!, this.#ctx(`${row.id}/${p.id}`, 'presignature')))) as { share: PresignShare; masks: Record<string, string> };
    let partial = partialSign(opened.share, this.#d.id, parties, opened.masks, { digest, publicKey: derived.publicKey, tweak: derived.tweak, binding: bindingBytes });
    if (this.#d.faults?.partial) partial = this.#d.faults.partial(partial);
    // Burn before release, with the audit entry in the same transaction: once this commits the
    // presignature is gone, and a crash now loses only the answer; no entry, no answer.
    let env: Envelope | undefined;
    this.#d.store.tx(() => {
      gate.commit();
      const peers = this.#d.audit.countersign(input.peerAnchors, this.#d.identityKeys);
      const entry = this.#d.audit.append('share.released', { scheme: row.scheme, key: input.keyId, presignature: p.id, request: req.digest, binding, policyVersion: gate.policyVersion, rule: req.decision.rule, approvers: req.approvers, peers });
      env = this.#d.envelope(`sign:${input.presignId}`, 'sign/ecdsa', 'coordinator', { keyId: input.keyId, presignId: input.presignId, binding, ...partial, audit: this.#d.audit.anchor(entry) } as unknown as Json);
      this.#d.store.burnPresignature(p.id, binding, JSON.stringify(env));
    });
    this.#d.faults?.afterBurn?.(p.id);
    this.#d.log.info('sign.ecdsa_share_released', { key: input.keyId, presignature: p.id });
    return env!;
  }
}
