import type { Group, GroupPoint } from './group.ts';

/**
 * Feldman verifiable secret sharing (Feldman 1987; RFC 9591 Appendix C.2 vss_commit /
 * vss_verify): the dealer publishes C_k = a_k·G for every coefficient of its polynomial, and a
 * receiver checks its share s_i = f(i) by s_i·G == Σ C_k·i^k. The commitments reveal a_0·G, the
 * dealer's public contribution, and nothing more about the secret.
 */
export function commitPolynomial(group: Group, coefficients: readonly bigint[]): GroupPoint[] {
  return coefficients.map((a) => group.base.multiply(a));
}

/** Σ C_k·x^k by Horner's rule: the public image f(x)·G of the committed polynomial. x is public. */
export function evaluateCommitments(group: Group, commitments: readonly GroupPoint[], x: bigint): GroupPoint {
  let acc = group.zero;
  for (let k = commitments.length - 1; k >= 0; k--) acc = acc.multiplyUnsafe(x).add(commitments[k]);
  return acc;
}

/** vss_verify: true iff `share`·G equals the commitments evaluated at `index`. */
export function verifyShare(group: Group, commitments: readonly GroupPoint[], index: bigint, share: bigint): boolean {
  if (commitments.length === 0 || index <= 0n || share < 0n || share >= group.order) return false;
  // The share is secret: constant-time multiplication (which refuses 0, whose commitment is the identity).
  const expected = evaluateCommitments(group, commitments, index);
  return share === 0n ? expected.is0() : group.base.multiply(share).equals(expected);
}

/** Coefficient-wise sum of several dealers' commitments: the commitments to the summed polynomial. */
export function sumCommitments(group: Group, all: readonly (readonly GroupPoint[])[]): GroupPoint[] {
  const t = all[0]?.length ?? 0;
  if (all.some((c) => c.length !== t)) throw new RangeError('commitment vectors differ in length');
  const out: GroupPoint[] = [];
  for (let k = 0; k < t; k++) out.push(all.reduce((acc, c) => acc.add(c[k]), group.zero));
  return out;
}
