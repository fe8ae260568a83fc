import { ValidationError } from '../common/errors.ts';
import type { Group } from './group.ts';
import { secureRng, type Rng } from './random.ts';

/**
 * Shamir secret sharing (Shamir 1979; RFC 9591 Appendix C.1): a secret polynomial
 * f(x) = a_0 + a_1·x + … + a_{t-1}·x^{t-1} over the scalar field; party with index i holds f(i).
 * Any t shares determine f (and so a_0); t-1 shares reveal nothing about a_0.
 * Coefficients are SECRET: the caller wipes or seals them.
 */
export type Polynomial = bigint[];

/** A polynomial of degree threshold-1 with random non-zero coefficients (a_0 = `constant` if given). */
export function randomPolynomial(group: Group, threshold: number, rng: Rng = secureRng, constant?: bigint): Polynomial {
  if (!Number.isSafeInteger(threshold) || threshold < 1) throw new ValidationError('threshold must be a positive integer', { code: 'crypto.bad_threshold' });
  const coefficients: bigint[] = [];
  for (let k = 0; k < threshold; k++) coefficients.push(k === 0 && constant !== undefined ? group.Fn.create(constant) : group.randomScalar(rng));
  return coefficients;
}

/** f(x) by Horner's rule. */
export function evaluatePolynomial(group: Group, coefficients: readonly bigint[], x: bigint): bigint {
  const { Fn } = group;
  let acc = 0n;
  for (let k = coefficients.length - 1; k >= 0; k--) acc = Fn.add(Fn.mul(acc, x), coefficients[k]);
  return acc;
}

/** A share: the polynomial's value at a non-zero public index. The value is SECRET. */
export type Share = { index: bigint; value: bigint };

/** Splits `secret` into shares for indices 1..n, any `threshold` of which recover it. */
export function shamirSplit(group: Group, secret: bigint, threshold: number, n: number, rng: Rng = secureRng): { shares: Share[]; coefficients: Polynomial } {
  if (!Number.isSafeInteger(n) || n < threshold) throw new ValidationError('n must be an integer >= threshold', { code: 'crypto.bad_threshold' });
  const coefficients = randomPolynomial(group, threshold, rng, secret);
  const shares: Share[] = [];
  for (let i = 1; i <= n; i++) shares.push({ index: BigInt(i), value: evaluatePolynomial(group, coefficients, BigInt(i)) });
  return { shares, coefficients };
}
