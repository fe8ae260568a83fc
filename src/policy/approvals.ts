import type { GroupRequirement, Policy } from './document.ts';
import { verifyBy } from './identity.ts';
import { PolicyRefusal } from './refusal.ts';
import { approvalDigestOf, type Approval } from './sign-request.ts';

/**
 * Checks the approvals of a request that a rule sent to approval (issue 4, item 4), on the node's
 * own clock and its own first sight of the request: every approval must be signed by an approver
 * of this policy over this very request digest (an approval of another request is a replay), not
 * expired; one rejection refuses the request; each approver counts once, for one group, and every
 * group must reach its threshold; and the timelock must have passed since the node first saw it.
 * `expiryNow` decides expiries where `now` decides timelocks: an offline node has only attested
 * time, and uses the latest attested time for expiries and the earliest for timelocks.
 */
export type ApprovalRequirement = { groups: GroupRequirement[]; timelockSeconds: number; expirySeconds: number };

export function checkApprovals(policy: Policy, need: ApprovalRequirement, requestDigest: string, approvals: readonly Approval[], firstSeen: Date, now: Date, expiryNow: Date = now): string[] {
  const expiresAt = firstSeen.getTime() + need.expirySeconds * 1000;
  if (expiryNow.getTime() >= expiresAt) throw new PolicyRefusal('request.expired', `the request expired at ${new Date(expiresAt).toISOString()} (${need.expirySeconds}s after this node first saw it)`);
  const approvers = new Set<string>();
  for (const a of approvals) {
    if (a.requestDigest !== requestDigest) throw new PolicyRefusal('approval.wrong_request', `the approval by ${a.approver} is for another request (${a.requestDigest.slice(0, 16)}…): a replayed approval`, { culprit: 'coordinator', detail: { approver: a.approver } });
    const who = policy.identities.find((i) => i.id === a.approver);
    if (!who || !who.roles.includes('approver')) throw new PolicyRefusal('approval.not_approver', `${a.approver} is not an identity with the approver role in policy version ${policy.version}`, { culprit: 'coordinator', detail: { approver: a.approver } });
    if (!verifyBy(who, approvalDigestOf(a), a.signature)) throw new PolicyRefusal('approval.bad_signature', `the approval claimed to be by ${a.approver} is not signed by ${a.approver}'s key: a forged approval`, { culprit: 'coordinator', detail: { approver: a.approver } });
    if (Date.parse(a.expiresAt) <= expiryNow.getTime()) throw new PolicyRefusal('approval.expired', `the approval by ${a.approver} expired at ${a.expiresAt}`, { detail: { approver: a.approver } });
    if (a.decision === 'reject') throw new PolicyRefusal('approval.rejected', `${a.approver} rejected the request`, { detail: { approver: a.approver } });
    approvers.add(a.approver);
  }
  const members = new Map(policy.groups.map((g) => [g.id, new Set(g.members)]));
  if (!assignable([...approvers], need.groups, members)) {
    const have = need.groups.map((g) => `${[...approvers].filter((a) => members.get(g.group)?.has(a)).length}/${g.threshold} of ${g.group}`).join(', ');
    throw new PolicyRefusal('approval.insufficient', `the approvals do not satisfy every group, each approver counting once (${have})`);
  }
  const unlocks = firstSeen.getTime() + need.timelockSeconds * 1000;
  // No timelock, no wait (with attested time the first sight can be later than `now`).
  if (need.timelockSeconds > 0 && now.getTime() < unlocks) throw new PolicyRefusal('approval.timelock', `approved, but the ${need.timelockSeconds}s timelock runs until ${new Date(unlocks).toISOString()}`, { detail: { notBefore: new Date(unlocks).toISOString() } });
  return [...approvers];
}

/** Whether `approvers` (already verified) satisfy every group of `groups`, each counting once. */
export function groupsSatisfied(policy: Policy, groups: readonly GroupRequirement[], approvers: readonly string[]): boolean {
  return assignable([...new Set(approvers)], groups, new Map(policy.groups.map((g) => [g.id, new Set(g.members)])));
}

/**
 * Whether distinct approvers can be assigned to groups (each to at most one group they belong
 * to) so that every group reaches its threshold. Backtracking: approval sets are small.
 */
function assignable(approvers: string[], groups: readonly GroupRequirement[], members: Map<string, Set<string>>): boolean {
  const left = groups.map((g) => g.threshold);
  const go = (k: number): boolean => {
    if (left.every((n) => n <= 0)) return true;
    if (k === approvers.length) return false;
    for (let g = 0; g < groups.length; g++) {
      if (left[g] > 0 && members.get(groups[g].group)?.has(approvers[k])) {
        left[g]--;
        if (go(k + 1)) return true;
        left[g]++;
      }
    }
    return go(k + 1);
  };
  return go(0);
}
