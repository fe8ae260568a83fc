import { CustosError, ProtocolAbort, UnavailableError } from '../common/errors.ts';
import { toHex } from '../common/bytes.ts';
import type { Logger } from '../common/logger.ts';
import type { Envelope } from '../wire/envelope.ts';
import { BROADCAST } from '../protocols/message.ts';
import type { SignedNonceCommitment } from '../wire/nonce-commitment.ts';
import type { Cluster } from './cluster.ts';
import type { CoordinatorStore, CoordKeyRow } from './store.ts';
import type { GroupPublic } from './dkg-runner.ts';
import { aggregate } from '../protocols/frost/index.ts';
import { withQuorumRetries, type QuorumRetryDeps } from './quorum-retry.ts';

/**
 * One signature: pick a quorum of reachable nodes, take one pooled nonce commitment per member
 * (or have fresh ones made: a pool miss), collect every member's consumption receipt, then the
 * shares, and combine. Each share is verified; a bad one names its node. A node that drops out
 * mid-way makes us retry on another quorum (its nonces are simply lost, never reused).
 */
export type SignOutcome = { signature: string; signers: string[]; pooled: boolean };

export class SigningService {
  readonly #store: CoordinatorStore;
  readonly #cluster: Cluster;
  readonly #log: Logger;
  readonly #onPool: (hit: boolean) => void;
  /** Called with every party named as culprit by a signing session. */
  onCulprit?: (node: string, code: string) => void;

  constructor(store: CoordinatorStore, cluster: Cluster, log: Logger, onPool: (hit: boolean) => void) {
    this.#store = store;
    this.#cluster = cluster;
    this.#log = log;
    this.#onPool = onPool;
  }

  #deps(): QuorumRetryDeps {
    return { store: this.#store, cluster: this.#cluster, log: this.#log, onCulprit: this.onCulprit };
  }

  /** `authorization` is the initiator-signed request with its approvals: each node decides on it. */
  async sign(key: CoordKeyRow, message: Uint8Array, requestId: string, authorization: unknown): Promise<SignOutcome> {
    return withQuorumRetries(this.#deps(), key, requestId, ['nonce.unknown', 'nonce.reused'], (q, attempt) => this.#signWith(key, q, message, `sign.${requestId}.${attempt}`, authorization));
  }

  async #signWith(key: CoordKeyRow, quorum: string[], message: Uint8Array, sessionId: string, authorization: unknown): Promise<SignOutcome> {
    const qname = quorum.join(',');
    let commitments = this.#store.takeCommitments(key.id, qname, quorum);
    const pooled = commitments !== undefined;
    this.#onPool(pooled);
    const offline = quorum.filter((p) => this.#cluster.isOffline(p));
    if (!commitments && offline.length > 0) {
      throw new CustosError('airgap.not_staged', `no staged nonce commitments left for quorum ${qname} of key ${key.id}, which includes an offline node: stage a batch first (POST /v1/keys/${key.id}/stage)`, { status: 409 });
    }
    if (!commitments) {
      await this.refill(key, quorum, 4);
      commitments = this.#store.takeCommitments(key.id, qname, quorum);
      if (!commitments) throw new UnavailableError('pool.empty', `no nonce commitments could be made for quorum ${qname}`);
    }
    const messageHex = toHex(message);
    const reserve = (p: string) => this.#cluster.client(p).post<Envelope>('/v1/sign/reserve', { sessionId, keyId: key.id, message: messageHex, commitments, authorization })
      .then((r) => this.#cluster.checkAnswer(r, p, { session: sessionId, round: 'sign/receipt', to: BROADCAST }));
    const share = (p: string, receipts: Envelope[]) => this.#cluster.client(p).post<Envelope>('/v1/sign/share', { sessionId, receipts: receipts.filter((r) => r.from !== p), peerAnchors: this.#cluster.anchorsOf(quorum.filter((q) => q !== p)) })
      .then((r) => this.#cluster.checkAnswer(r, p, { session: sessionId, round: 'sign/share', to: 'coordinator' }));
    let shares: Envelope[];
    if (offline.length === 1) {
      // One crossing of the air gap: the online members reserve first, and the offline member
      // gets its reserve and its share call in the same bundle (their receipts are all its share
      // needs); its receipt comes back with its share and releases the online members' shares.
      const online = quorum.filter((p) => p !== offline[0]);
      const onlineReceipts = await Promise.all(online.map(reserve));
      const [offReceipt, offShare] = await Promise.all([reserve(offline[0]), share(offline[0], onlineReceipts)]);
      const receipts = [...onlineReceipts, offReceipt];
      const onlineShares = await Promise.all(online.map((p) => share(p, receipts)));
      shares = quorum.map((p) => (p === offline[0] ? offShare : onlineShares[online.indexOf(p)]));
    } else {
      const receipts = await Promise.all(quorum.map(reserve));
      shares = await Promise.all(quorum.map((p) => share(p, receipts)));
    }
    const byParty: Record<string, string> = {};
    shares.forEach((s, i) => {
      const p = s?.payload as { share?: unknown; audit?: unknown } | undefined;
      if (s?.from !== quorum[i] || typeof p?.share !== 'string') throw new ProtocolAbort('frost.bad_share', quorum[i], `${quorum[i]} did not return a signature share`);
      this.#cluster.keepAnchor(this.#store, quorum[i], p.audit);
      byParty[quorum[i]] = p.share;
    });
    const group = JSON.parse(key.group_public) as GroupPublic;
    // aggregate() verifies each share (a bad one names its node) and the final signature under
    // the key's reported public key before it returns.
    const signature = aggregate(group, commitments.map((c: SignedNonceCommitment) => ({ party: c.party, hiding: c.hiding, binding: c.binding })), message, byParty);
    return { signature, signers: quorum, pooled };
  }

  /** Asks every member of `quorum` for `count` fresh nonce commitments and pools them. */
  async refill(key: CoordKeyRow, quorum: string[], count: number): Promise<void> {
    const qname = quorum.join(',');
    const lists = await Promise.all(quorum.map((p) => this.#cluster.client(p).post<{ commitments: SignedNonceCommitment[] }>('/v1/nonces', { keyId: key.id, quorum, count })));
    // Pool only what each member provably made: its signature over key, quorum and points. A
    // member that answers otherwise is named (our own check is the evidence). The points are
    // checked by every co-signer at reserve time, which names a signer of invalid ones; checking
    // them here too would block the event loop for every batch (Ed25519 subgroup checks).
    const all = lists.flatMap((l, i) => {
      const list = Array.isArray(l?.commitments) ? l.commitments : [];
      for (const c of list) {
        if (c?.party !== quorum[i] || c.keyId !== key.id || !Array.isArray(c.quorum) || c.quorum.join(',') !== qname
          || !this.#cluster.verifyCommitment(c)) {
          throw new ProtocolAbort('sign.bad_commitment', quorum[i], `${quorum[i]} answered with an invalid nonce commitment`);
        }
      }
      return list;
    });
    this.#store.addCommitments(key.id, qname, all);
  }
}
