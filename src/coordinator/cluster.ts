import { genesisHash, identityKeys, type Genesis } from '../wire/genesis.ts';
import { EnvelopeVerifier, parseEnvelope, type Envelope } from '../wire/envelope.ts';
import { verifiedAnchor, type AuditAnchor } from '../wire/audit-chain.ts';
import { verifyNonceCommitment, type SignedNonceCommitment } from '../wire/nonce-commitment.ts';
import { NodeClient, type NodeEndpoint, type PartyClient } from './node-client.ts';
import { ConfigError, ProtocolAbort } from '../common/errors.ts';

/** Where kept anchors are written (the coordinator's store). */
export type AnchorStore = { recordAnchor(party: string, seq: number, anchor: string): void; tx<T>(fn: () => T): T };

/**
 * The coordinator's view of the signer nodes: clients for each node of the genesis, and their
 * last-seen reachability, refreshed by a periodic probe and by every call's outcome.
 */
export class Cluster {
  readonly clients: Map<string, PartyClient>;
  /** Offline nodes: reached only through air-gap bundles (attachOffline), never probed. */
  readonly offline: Set<string>;
  readonly #up = new Map<string, boolean>();
  /** Verifies envelopes received straight from a node: a bad one is that node's fault. */
  readonly verifier: EnvelopeVerifier;
  readonly #identityKeys: Record<string, Uint8Array>;
  #timer: NodeJS.Timeout | undefined;
  readonly #pendingAnchors = new Map<string, { seq: number; anchor: string }>();
  readonly #latestAnchors = new Map<string, AuditAnchor>();
  #anchorStore: AnchorStore | undefined;
  #anchorTimer: NodeJS.Timeout | undefined;

  constructor(genesis: Genesis, endpoints: NodeEndpoint[], timeoutMs?: number) {
    this.clients = new Map();
    this.offline = new Set();
    this.#identityKeys = identityKeys(genesis);
    this.verifier = new EnvelopeVerifier(genesisHash(genesis), this.#identityKeys);
    for (const n of genesis.nodes) {
      const ep = endpoints.find((e) => e.id === n.id);
      if (!ep) throw new ConfigError(`no URL configured for genesis node ${n.id}`);
      if (ep.offline) {
        if (ep.url !== undefined) throw new ConfigError(`node ${n.id} is configured offline and with a URL: an offline node has no network`);
        this.offline.add(n.id);
      } else {
        if (typeof ep.url !== 'string') throw new ConfigError(`node ${n.id} needs a URL (or "offline": true)`);
        this.clients.set(n.id, new NodeClient({ id: n.id, url: ep.url }, timeoutMs));
      }
      this.#up.set(n.id, true);
    }
    for (const e of endpoints) if (!genesis.nodes.some((n) => n.id === e.id)) throw new ConfigError(`node ${e.id} is configured but not in the genesis`);
  }

  client(id: string): PartyClient {
    const c = this.clients.get(id);
    if (!c) throw new ConfigError(this.offline.has(id) ? `offline node ${id} has no air-gap link` : `unknown node ${id}`);
    return c;
  }

  /** Routes calls to an offline node through its air-gap link (airgap-link.ts). */
  attachOffline(id: string, client: PartyClient): void {
    if (!this.offline.has(id)) throw new ConfigError(`node ${id} is not configured offline`);
    this.clients.set(id, client);
  }

  isOffline(id: string): boolean { return this.offline.has(id); }

  /** Online nodes of the genesis (those the coordinator reaches over the network). */
  onlineIds(): string[] { return [...this.clients.keys()].filter((id) => !this.offline.has(id)); }

  /** Checks an envelope that node `from` just answered with. */
  checkAnswer(env: unknown, from: string, expect: { session: string; round: string; to: string }): Envelope {
    let e: Envelope;
    try {
      e = parseEnvelope(env, `answer of ${from}`);
    } catch (err) {
      throw new ProtocolAbort('envelope.malformed', from, `${from} answered with a malformed envelope`);
    }
    this.verifier.verify(e, { ...expect, from, relayed: false });
    return e;
  }

  /**
   * Keeps the newest audit anchor a node handed out (signed (sequence, head)), once its signature
   * checks. Anchors are written in batches (every 250 ms, and at stop) rather than one commit per
   * answer: on the signing path a commit each would cost more than the signature; a crash loses
   * at most the last batch, and the co-signers' countersignatures cover those heads anyway.
   */
  keepAnchor(store: AnchorStore, from: string, anchor: unknown): void {
    const a = verifiedAnchor(anchor, this.#identityKeys[from]);
    if (!a || a.party !== from) return;
    const prior = this.#latestAnchors.get(from);
    if (prior && prior.seq >= a.seq) return;
    this.#pendingAnchors.set(from, { seq: a.seq, anchor: JSON.stringify(a) });
    this.#latestAnchors.set(from, a);
    this.#anchorStore = store;
    if (!this.#anchorTimer) {
      this.#anchorTimer = setTimeout(() => { this.#anchorTimer = undefined; this.flushAnchors(); }, 250);
      this.#anchorTimer.unref();
    }
  }

  /** The newest anchors of `parties` seen since start, relayed to their co-signers to countersign. */
  anchorsOf(parties: readonly string[]): AuditAnchor[] {
    return parties.flatMap((p) => { const a = this.#latestAnchors.get(p); return a ? [a] : []; });
  }

  /** Writes the anchors kept since the last flush, in one transaction. */
  flushAnchors(): void {
    const store = this.#anchorStore;
    if (!store || this.#pendingAnchors.size === 0) return;
    const batch = [...this.#pendingAnchors];
    this.#pendingAnchors.clear();
    store.tx(() => { for (const [party, a] of batch) store.recordAnchor(party, a.seq, a.anchor); });
  }

  /** Checks a pooled nonce commitment's signature by its owner. */
  verifyCommitment(c: SignedNonceCommitment): boolean {
    const key = this.#identityKeys[c.party];
    return key !== undefined && verifyNonceCommitment(this.verifier.cluster, c, key);
  }

  isUp(id: string): boolean { return this.#up.get(id) ?? false; }

  readonly #suspectUntil = new Map<string, number>();
  /** A node named as culprit is avoided in quorum selection for a while (used only if unavoidable). */
  suspect(id: string, ms = 10 * 60_000): void { this.#suspectUntil.set(id, Date.now() + ms); }
  isSuspect(id: string): boolean { return (this.#suspectUntil.get(id) ?? 0) > Date.now(); }
  markDown(id: string): void { this.#up.set(id, false); }

  async probe(): Promise<Record<string, boolean>> {
    await Promise.all([...this.clients.values()].filter((c) => !this.offline.has(c.id)).map(async (c) => {
      try { await c.get('/v1/info', 2000); this.#up.set(c.id, true); } catch { this.#up.set(c.id, false); }
    }));
    return Object.fromEntries([...this.clients.keys()].map((id) => [id, this.isUp(id)]));
  }

  startProbing(intervalMs = 2000): void {
    this.#timer = setInterval(() => { void this.probe(); }, intervalMs);
    this.#timer.unref();
  }
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#anchorTimer) clearTimeout(this.#anchorTimer);
    this.#anchorTimer = undefined;
    this.flushAnchors();
  }
}
