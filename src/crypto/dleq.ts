import { concatBytes } from '../common/bytes.ts';
import type { Group, GroupPoint } from './group.ts';
import { secureRng, type Rng } from './random.ts';
import { hashToScalar } from './transcript.ts';

/**
 * Chaum–Pedersen proof of equality of discrete logarithms (Chaum and Pedersen, CRYPTO '92),
 * non-interactive by Fiat–Shamir: for public X = x·G and Y = x·H, proves log_G(X) = log_H(Y)
 * without revealing x. custos uses it over P-256 to prove an ECDH result, Y = sk·E for the key
 * X = sk·G (see decryption-proof.ts). Encoded as c || z (two scalars, 64 bytes).
 */
const CHALLENGE_TAG = 'custos/dleq/challenge/v1';
const NONCE_TAG = 'custos/dleq/nonce/v1';

export const DLEQ_PROOF_BYTES = 64;

function challenge(group: Group, context: Uint8Array, X: GroupPoint, H: GroupPoint, Y: GroupPoint, A1: GroupPoint, A2: GroupPoint): bigint {
  return hashToScalar(group, CHALLENGE_TAG, [group.name, context, ...[X, H, Y, A1, A2].map((p) => group.encodePoint(p))]);
}

/** Proves log_G(x·G) = log_H(x·H) in `context`. x is SECRET (1 <= x < order). */
export function proveDleq(group: Group, x: bigint, H: GroupPoint, context: Uint8Array, rng: Rng = secureRng): Uint8Array {
  const X = group.base.multiply(x);
  const Y = H.multiply(x);
  const seed = rng(32);
  const xBytes = group.encodeScalar(x);
  // Hedged nonce (randomness and secret), as in schnorr-pok.ts.
  const k = hashToScalar(group, NONCE_TAG, [seed, xBytes, group.name, context, group.encodePoint(X), group.encodePoint(H)]);
  seed.fill(0);
  xBytes.fill(0);
  if (k === 0n) throw new Error('degenerate nonce');
  const c = challenge(group, context, X, H, Y, group.base.multiply(k), H.multiply(k));
  const z = group.Fn.add(k, group.Fn.mul(c, x));
  return concatBytes(group.encodeScalar(c), group.encodeScalar(z));
}

/** Checks a DLEQ proof for (X = x·G, Y = x·H) in `context`. Never throws on malformed input. */
export function verifyDleq(group: Group, X: GroupPoint, H: GroupPoint, Y: GroupPoint, proof: Uint8Array, context: Uint8Array): boolean {
  if (!(proof instanceof Uint8Array) || proof.length !== DLEQ_PROOF_BYTES) return false;
  if (X.is0() || H.is0() || Y.is0()) return false;
  let c: bigint;
  let z: bigint;
  try {
    c = group.decodeScalar(proof.subarray(0, 32));
    z = group.decodeScalar(proof.subarray(32));
  } catch {
    return false;
  }
  const A1 = group.base.multiplyUnsafe(z).subtract(X.multiplyUnsafe(c));
  const A2 = H.multiplyUnsafe(z).subtract(Y.multiplyUnsafe(c));
  if (A1.is0() || A2.is0()) return false;
  return challenge(group, context, X, H, Y, A1, A2) === c;
}
