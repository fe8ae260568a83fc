import { ValidationError } from '../common/errors.ts';
import type { Group } from './group.ts';
import type { Share } from './polynomial.ts';

/**
 * Lagrange coefficient λ_i(x) = Π_{j∈S, j≠i} (x - j) / (i - j) for the index set S
 * (RFC 9591 Section 4.2 derive_interpolating_value, generalised to any x; x = 0 recovers the
 * constant term). Indices must be distinct, non-zero, and include i.
 */
export function lagrangeCoefficient(group: Group, indices: readonly bigint[], i: bigint, x = 0n): bigint {
  const { Fn } = group;
  const set = new Set(indices.map((j) => Fn.create(j)));
  if (set.size !== indices.length || set.has(0n)) throw new ValidationError('indices must be distinct and non-zero', { code: 'crypto.bad_indices' });
  if (!set.has(Fn.create(i))) throw new ValidationError('index is not in the set', { code: 'crypto.bad_indices' });
  let num = 1n;
  let den = 1n;
  for (const j of indices) {
    if (Fn.create(j) === Fn.create(i)) continue;
    num = Fn.mul(num, Fn.sub(Fn.create(x), Fn.create(j)));
    den = Fn.mul(den, Fn.sub(Fn.create(i), Fn.create(j)));
  }
  return Fn.div(num, den);
}

/** f(0) from shares of f (as many as its degree + 1, or more). The result is as secret as the shares. */
export function interpolateAtZero(group: Group, shares: readonly Share[]): bigint {
  const indices = shares.map((s) => s.index);
  return shares.reduce((acc, s) => group.Fn.add(acc, group.Fn.mul(s.value, lagrangeCoefficient(group, indices, s.index))), 0n);
}
