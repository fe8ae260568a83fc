import type { Logger } from '../common/logger.ts';
import type { Cluster } from './cluster.ts';
import type { CoordinatorStore } from './store.ts';
import type { SigningService } from './signing.ts';
import type { EcdsaSigning } from './ecdsa-signing.ts';
import { isEcdsa, type Scheme } from '../common/schemes.ts';

/** Presignatures made per presigning session in the background: small, so a session never holds a node long. */
const ECDSA_BATCH = 16;
const UNUSABLE_QUORUM_BACKOFF_MS = 10 * 60_000;
import { MAX_POOLED_QUORUMS, quorumsOf } from './quorum.ts';

/**
 * Keeps nonce-commitment pools of every key's quorums between `low` and `low + batch` in the
 * background, one refill at a time so live signing keeps priority on the nodes.
 */
export class PoolKeeper {
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  readonly #skipUntil = new Map<string, number>();
  readonly store: CoordinatorStore;
  readonly cluster: Cluster;
  readonly signing: SigningService;
  readonly ecdsa: EcdsaSigning;
  readonly log: Logger;
  readonly opts: { low: number; batch: number; intervalMs: number };
  constructor(store: CoordinatorStore, cluster: Cluster, signing: SigningService, ecdsa: EcdsaSigning, log: Logger, opts: { low: number; batch: number; intervalMs: number }) {
    this.store = store;
    this.cluster = cluster;
    this.signing = signing;
    this.ecdsa = ecdsa;
    this.log = log;
    this.opts = opts;
  }

  start(): void {
    this.#timer = setInterval(() => { void this.tick(); }, this.opts.intervalMs);
    this.#timer.unref();
  }
  stop(): void { if (this.#timer) clearInterval(this.#timer); }

  async tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const ecdsaWork: (() => Promise<void>)[] = [];
      for (const key of this.store.listKeys(10_000)) {
        const parties = JSON.parse(key.parties) as string[];
        const qs = quorumsOf(parties, key.threshold);
        if (qs.length > MAX_POOLED_QUORUMS) continue;
        for (const q of qs) {
          // Quorums with an offline node are staged on purpose (POST /v1/keys/{id}/stage), in bulk.
          if (!q.every((p) => this.cluster.isUp(p) && !this.cluster.isOffline(p))) continue;
          if ((this.#skipUntil.get(`${key.id}|${q.join(',')}`) ?? 0) > Date.now()) continue;
          if (this.store.poolLevel(key.id, q.join(',')) >= this.opts.low) continue;
          const refill = async () => {
            try {
              if (isEcdsa(key.scheme as Scheme)) await this.ecdsa.presign(key, q, Math.min(this.opts.batch, ECDSA_BATCH));
              else await this.signing.refill(key, q, this.opts.batch);
            } catch (e) {
              const code = (e as { code?: string }).code ?? 'error';
              // A quorum a node refuses for good (a retired OT pair) is not retried every tick.
              if (code === 'presign.pair_retired') this.#skipUntil.set(`${key.id}|${q.join(',')}`, Date.now() + UNUSABLE_QUORUM_BACKOFF_MS);
              this.log.warn('pool.refill_failed', { key: key.id, quorum: q.join(','), code });
            }
          };
          if (isEcdsa(key.scheme as Scheme)) ecdsaWork.push(refill);
          else await refill();
        }
      }
      // Presigning is heavy. Two sessions at a time keep both cores busy while the nodes wait on
      // each other. Live signing keeps priority without stopping the presigner (which would turn
      // every signature under sustained load into an uncached one): nodes compute presigning
      // rounds in a worker thread, so a sign call never queues behind one, and between sessions
      // the presigner lets queued sign calls through first.
      const lanes = async () => {
        for (let job = ecdsaWork.shift(); job; job = ecdsaWork.shift()) {
          await job();
          if (this.ecdsa.inflight > 0) await new Promise((r) => setImmediate(r));
        }
      };
      await Promise.all(Array.from({ length: 2 }, lanes));
    } finally {
      this.#busy = false;
    }
  }
}
