/**
 * Whether velocity rules can be enforced for a key (issue 4, item 2). Each node keeps its own
 * durable counters, so a limit only holds if every two signing quorums share an honest node that
 * has seen both requests. Two quorums of t out of n always intersect when 2t > n; otherwise a
 * hostile coordinator can route requests to disjoint quorums and each sees a fresh counter. A
 * mandatory cold party (in every quorum) restores the intersection.
 */
export function velocityAllowed(threshold: number, parties: number, hasColdParty: boolean): { ok: boolean; reason: string } {
  if (!Number.isSafeInteger(threshold) || !Number.isSafeInteger(parties) || threshold < 1 || threshold > parties) {
    return { ok: false, reason: `invalid key shape: threshold ${threshold} of ${parties} parties` };
  }
  if (2 * threshold > parties) {
    return { ok: true, reason: `any two quorums of ${threshold} out of ${parties} share a node (2t > n), so that node's counters see both requests` };
  }
  if (hasColdParty) {
    return { ok: true, reason: `2t <= n (${2 * threshold} <= ${parties}), but the mandatory cold party is in every quorum and keeps the counters` };
  }
  return {
    ok: false,
    reason: `velocity limits refused: with threshold ${threshold} of ${parties} parties (2t = ${2 * threshold} <= n), two signing quorums can be disjoint, so requests routed to different nodes each see fresh counters; add a mandatory cold party or raise the threshold above n/2`,
  };
}
