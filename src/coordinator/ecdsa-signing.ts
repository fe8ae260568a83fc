import { randomUUID } from 'node:crypto';
import { fromHex, toHex } from '../common/bytes.ts';
import { CustosError, ProtocolAbort, UnavailableError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { deriveNonHardened, parseDerivationPath } from '../crypto/bip32-public.ts';
import { presignSid } from '../protocols/dkls23/params.ts';
import { combine, type PartialSignature } from '../protocols/dkls23/sign.ts';
import { BROADCAST } from '../protocols/message.ts';
import { dkgSessionId } from '../wire/dkg-session.ts';
import type { Envelope } from '../wire/envelope.ts';
import type { Cluster } from './cluster.ts';
import type { GroupPublic } from './dkg-runner.ts';
import { requiredPartiesOf, withQuorumRetries, type QuorumRetryDeps } from './quorum-retry.ts';
import { settleAll } from './settle.ts';
import type { CoordinatorStore, CoordKeyRow } from './store.ts';

/**
 * Threshold ECDSA at the coordinator: runs DKLs23 presigning for a quorum (three relayed rounds,
 * a batch of presignatures at a time), pools the results (id and R, nothing secret), and signs
 * with one round: every quorum member gets the whole request and a pooled presignature id and
 * answers with its masked share; the combiner checks the signature with @noble/curves.
 * Without a pooled presignature the same call presigns one first (the uncached path).
 */
/** One sign call: the digest the nodes will decode from the authorised request, and that request. */
export type EcdsaSignInput = { digest: Uint8Array; derivationPath?: string; requestId: string; authorization: unknown };
export type EcdsaOutcome = { signature: string; recoveryId: 0 | 1; publicKey: string; signers: string[]; presigned: boolean };

/** Presignatures made by a sign call that found its quorum's pool empty under load: one for itself, the rest pooled. */
const UNCACHED_BATCH = 4;

type Ack = { keyId: string; quorum: string[]; presignatures: { id: string; R: string }[] };

export class EcdsaSigning {
  readonly #store: CoordinatorStore;
  readonly #cluster: Cluster;
  readonly #log: Logger;
  readonly #onPool: (hit: boolean, quorum: string) => void;
  onCulprit?: (node: string, code: string) => void;
  /** Sees every envelope relayed while presigning (tests inspect it). */
  onRelay?: (round: string, envs: Envelope[]) => void;
  /** Live sign calls in flight: background presigning yields to them. */
  inflight = 0;

  constructor(store: CoordinatorStore, cluster: Cluster, log: Logger, onPool: (hit: boolean, quorum: string) => void) {
    this.#store = store;
    this.#cluster = cluster;
    this.#log = log;
    this.#onPool = onPool;
  }

  #deps(): QuorumRetryDeps {
    return { store: this.#store, cluster: this.#cluster, log: this.#log, onCulprit: this.onCulprit };
  }

  /** Runs the three presigning rounds for `count` presignatures of `quorum` and pools them. */
  async presign(key: CoordKeyRow, quorum: string[], count: number): Promise<{ id: string; R: string }[]> {
    const onRelay = this.onRelay;
    const sessionId = `presign.${randomUUID()}`;
    const presignIds = Array.from({ length: count }, () => randomUUID());
    const all = <T>(fn: (p: string) => Promise<T>) => settleAll(quorum, fn, 'presign');
    const checked = (round: string, answers: { messages?: unknown }[]) => answers.flatMap((a, i) => {
      const from = quorum[i];
      if (!a || !Array.isArray(a.messages)) throw new ProtocolAbort('presign.bad_answer', from, `${from} answered ${round} without messages`);
      return (a.messages as unknown[]).map((m) => {
        const to = (m as { to?: unknown })?.to;
        if (typeof to !== 'string' || (to !== BROADCAST && (!quorum.includes(to) || to === from))) throw new ProtocolAbort('presign.bad_answer', from, `${from} addressed a ${round} message to ${String(to)}`);
        return this.#cluster.checkAnswer(m, from, { session: sessionId, round, to });
      });
    });
    const routeTo = (envs: Envelope[], p: string) => envs.filter((e) => e.from !== p && (e.to === BROADCAST || e.to === p));
    const r1 = checked('presign/1', await all((p) => this.#cluster.client(p).post<{ messages: Envelope[] }>('/v1/presign/round1', { sessionId, keyId: key.id, quorum, presignIds })));
    onRelay?.('presign/1', r1);
    const r2 = checked('presign/2', await all((p) => this.#cluster.client(p).post<{ messages: Envelope[] }>('/v1/presign/round2', { sessionId, messages: routeTo(r1, p) })));
    onRelay?.('presign/2', r2);
    const acks = await all((p) => this.#cluster.client(p).post<{ messages: Envelope[] }>('/v1/presign/round3', { sessionId, messages: routeTo(r2, p) }));
    const results = acks.map((a, i) => {
      const env = this.#cluster.checkAnswer(Array.isArray(a?.messages) ? a.messages[0] : undefined, quorum[i], { session: sessionId, round: 'presign/3', to: 'coordinator' });
      const ack = env.payload as unknown as Ack;
      if (!ack || ack.keyId !== key.id || !Array.isArray(ack.presignatures) || ack.presignatures.length !== count || ack.presignatures.some((x, k) => x?.id !== presignIds[k] || typeof x.R !== 'string')) {
        throw new ProtocolAbort('presign.bad_answer', quorum[i], `${quorum[i]}'s presigning acknowledgement does not list the session's presignatures`);
      }
      return ack.presignatures;
    });
    // Every member computed R = Σ R_j from the same opened commitments; a member reporting
    // another R is the odd one out (and its share would not combine).
    results.forEach((list) => list.forEach((x, k) => {
      if (x.R !== results[0][k].R) throw new CustosError('presign.inconsistent', `the quorum members report different R for presignature ${x.id}; none of this batch is pooled`, { status: 502 });
    }));
    this.#store.addPresignatures(key.id, quorum.join(','), results[0]);
    return results[0];
  }

  async sign(key: CoordKeyRow, input: EcdsaSignInput): Promise<EcdsaOutcome> {
    this.inflight++;
    try {
      return await this.#retrying(key, input);
    } finally {
      this.inflight--;
    }
  }

  async #retrying(key: CoordKeyRow, input: EcdsaSignInput): Promise<EcdsaOutcome> {
    const group = JSON.parse(key.group_public) as GroupPublic & { chainCode?: string };
    if (!group.chainCode) throw new CustosError('key.no_chain_code', `key ${key.id} has no chain code`, { status: 500 });
    const derived = deriveNonHardened({ publicKey: fromHex(group.publicKey), chainCode: fromHex(group.chainCode) }, parseDerivationPath(input.derivationPath ?? 'm'));
    return withQuorumRetries(this.#deps(), key, input.requestId, ['presign.unknown', 'presign.reused'], (q) => this.#signWith(key, q, input, derived.publicKey), ['presign.pair_retired']);
  }

  async #signWith(key: CoordKeyRow, quorum: string[], input: EcdsaSignInput, publicKey: Uint8Array): Promise<EcdsaOutcome> {
    const qname = quorum.join(',');
    let presig = this.#store.takePresignature(key.id, qname);
    const presigned = presig !== undefined;
    this.#onPool(presigned, qname);
    if (!presig && quorum.some((p) => this.#cluster.isOffline(p))) {
      // Presigning on demand would take three crossings of the air gap for one signature.
      throw new CustosError('airgap.not_staged', `no staged presignature left for quorum ${qname} of key ${key.id}, which includes an offline node: stage a batch first (POST /v1/keys/${key.id}/stage)`, { status: 409 });
    }
    if (!presig) {
      // Alone, a call presigns just its own (the shortest uncached latency); with other calls in
      // flight it presigns a few, which costs little more than one and refills the pool under load.
      await this.presign(key, quorum, this.inflight > 1 ? UNCACHED_BATCH : 1);
      presig = this.#store.takePresignature(key.id, qname);
      if (!presig) throw new UnavailableError('pool.empty', `no presignature could be made for quorum ${qname}`);
    }
    const session = `sign:${presig.id}`;
    const answers = await Promise.all(quorum.map((p) => this.#cluster.client(p).post<Envelope>('/v1/sign/ecdsa', { keyId: key.id, presignId: presig!.id, quorum, authorization: input.authorization, peerAnchors: this.#cluster.anchorsOf(quorum.filter((q) => q !== p)) })));
    const partials = answers.map((a, i) => {
      const env = this.#cluster.checkAnswer(a, quorum[i], { session, round: 'sign/ecdsa', to: 'coordinator' });
      const p = env.payload as unknown as PartialSignature & { presignId?: string; audit?: unknown };
      if (p?.presignId !== presig!.id) throw new ProtocolAbort('sign.bad_share', quorum[i], `${quorum[i]} answered for another presignature`);
      this.#cluster.keepAnchor(this.#store, quorum[i], p.audit);
      return { from: quorum[i], partial: { u: p.u, w: p.w } };
    });
    const keySession = dkgSessionId(key.id, { scheme: key.scheme, threshold: key.threshold, parties: JSON.parse(key.parties), requiredParties: requiredPartiesOf(key) });
    const sid = toHex(presignSid(keySession, presig.id, quorum));
    const out = combine(sid, presig.R, publicKey, input.digest, partials);
    return { signature: toHex(out.signature), recoveryId: out.recoveryId, publicKey: toHex(publicKey), signers: quorum, presigned };
  }
}
