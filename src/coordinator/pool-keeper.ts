import type { Logger } from '../common/logger.ts';
import type { Cluster } from './cluster.ts';
import type { CoordinatorStore } from './store.ts';
import type { SigningService } from './signing.ts';
import { MAX_POOLED_QUORUMS, quorumsOf } from './quorum.ts';

/**
 * Keeps nonce-commitment pools of every key's quorums between `low` and `low + batch` in the
 * background, one refill at a time so live signing keeps priority on the nodes.
 */
export class PoolKeeper {
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  readonly store: CoordinatorStore;
  readonly cluster: Cluster;
  readonly signing: SigningService;
  readonly log: Logger;
  readonly opts: { low: number; batch: number; intervalMs: number };
  constructor(store: CoordinatorStore, cluster: Cluster, signing: SigningService, log: Logger, opts: { low: number; batch: number; intervalMs: number }) {
    this.store = store;
    this.cluster = cluster;
    this.signing = signing;
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
      for (const key of this.store.listKeys(10_000)) {
        const parties = JSON.parse(key.parties) as string[];
        const qs = quorumsOf(parties, key.threshold);
        if (qs.length > MAX_POOLED_QUORUMS) continue;
        for (const q of qs) {
          if (!q.every((p) => this.cluster.isUp(p))) continue;
          if (this.store.poolLevel(key.id, q.join(',')) >= this.opts.low) continue;
          try {
            await this.signing.refill(key, q, this.opts.batch);
          } catch (e) {
            this.log.warn('pool.refill_failed', { key: key.id, quorum: q.join(','), code: (e as { code?: string }).code ?? 'error' });
          }
        }
      }
    } finally {
      this.#busy = false;
    }
  }
}
