import { CustosError, ProtocolAbort, UnavailableError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { Cluster } from './cluster.ts';
import { quorumsOf } from './quorum.ts';
import type { CoordinatorStore, CoordKeyRow } from './store.ts';

/**
 * How every signature picks its quorum and survives failures, whatever the scheme: reachable
 * quorums first by fewest suspects then by fullest pool; a node named by our own checks is
 * suspected and avoided; a node that drops out is marked down; a pool a node no longer
 * recognises (`staleCodes`: restored backup) is purged; each case retries on the next quorum.
 */
export type QuorumRetryDeps = {
  store: CoordinatorStore;
  cluster: Cluster;
  log: Logger;
  onCulprit?: (node: string, code: string) => void;
};

export function candidateQuorums(d: Pick<QuorumRetryDeps, 'store' | 'cluster'>, key: CoordKeyRow): string[][] {
  const parties = JSON.parse(key.parties) as string[];
  // An offline node signs only where it must (a cold key): anywhere else it would hold a
  // signature up for a crossing of the air gap. Every node enforces the cold flag itself.
  const required = requiredPartiesOf(key);
  const usable = parties.filter((p) => d.cluster.isUp(p) && (!d.cluster.isOffline(p) || required.includes(p)));
  const live = quorumsOf(usable, key.threshold).filter((q) => required.every((r) => q.includes(r)));
  const suspects = (q: string[]) => q.filter((p) => d.cluster.isSuspect(p)).length;
  return live.sort((a, b) => suspects(a) - suspects(b) || d.store.poolLevel(key.id, b.join(',')) - d.store.poolLevel(key.id, a.join(',')));
}

export async function withQuorumRetries<T>(d: QuorumRetryDeps, key: CoordKeyRow, requestId: string, staleCodes: readonly string[], attemptWith: (quorum: string[], attempt: number) => Promise<T>, unusableCodes: readonly string[] = []): Promise<T> {
  let lastError: unknown;
  // Quorums a node declared unusable for this key (e.g. a retired OT pair): skipped for this call.
  const unusable = new Set<string>();
  // Nodes this call caught cheating: never asked again within the call, even as the last resort.
  const caught = new Set<string>();
  let cheated: unknown;
  const candidates = () => candidateQuorums(d, key).filter((q) => !unusable.has(q.join(',')) && !q.some((p) => caught.has(p)));
  for (let attempt = 0; attempt < 3; attempt++) {
    let quorums = candidates();
    if (quorums.length === 0) {
      await d.cluster.probe();
      quorums = candidates();
    }
    // Every reachable quorum holds a node caught cheating, or was refused for good: that, not
    // "unreachable", is the answer.
    if (quorums.length === 0 && cheated) throw cheated;
    if (quorums.length === 0 && unusable.size > 0 && lastError) throw lastError;
    if (quorums.length === 0) throw new UnavailableError('quorum.unavailable', `fewer than ${key.threshold} nodes of key ${key.id} are reachable`);
    const q = quorums[0];
    try {
      return await attemptWith(q, attempt);
    } catch (e) {
      lastError = e;
      if (e instanceof ProtocolAbort && e.culprit && d.cluster.clients.has(e.culprit)) {
        // Proven by our own checks (a share or commitment that fails verification): avoid the
        // node, and retry at once if a quorum without any suspect node is reachable.
        d.cluster.suspect(e.culprit);
        caught.add(e.culprit);
        cheated = e;
        d.onCulprit?.(e.culprit, e.code);
        d.log.warn('sign.culprit', { request: requestId, culprit: e.culprit, code: e.code });
        const next = candidates()[0];
        if (next && !next.some((p) => d.cluster.isSuspect(p))) continue;
      }
      if (e instanceof CustosError && staleCodes.includes(e.code)) {
        // A node restored from a backup forgot pooled material, or our own pool was restored:
        // the pool of this quorum is stale. Drop it and retry with fresh material.
        d.store.purgePool(key.id, q.join(','));
        d.log.warn('pool.stale', { request: requestId, quorum: q.join(','), code: e.code });
        continue;
      }
      if (e instanceof CustosError && unusableCodes.includes(e.code)) {
        unusable.add(q.join(','));
        d.store.purgePool(key.id, q.join(','));
        d.log.warn('quorum.unusable', { request: requestId, quorum: q.join(','), code: e.code });
        continue;
      }
      if (e instanceof CustosError && e.code === 'node.unreachable') {
        const node = String(e.detail?.node ?? '');
        if (node) d.cluster.markDown(node);
        d.log.warn('sign.retry', { request: requestId, node, attempt });
        continue;
      }
      throw e;
    }
  }
  throw cheated ?? lastError;
}

/** A cold key's parties that every quorum must include (attested by every party at creation). */
export function requiredPartiesOf(key: { group_public: string }): string[] {
  return (JSON.parse(key.group_public) as { requiredParties?: string[] }).requiredParties ?? [];
}
