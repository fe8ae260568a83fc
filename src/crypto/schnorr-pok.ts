import { concatBytes, wipe } from '../common/bytes.ts';
import type { Group, GroupPoint } from './group.ts';
import { secureRng, type Rng } from './random.ts';
import { hashToScalar } from './transcript.ts';

/**
 * Schnorr proof of knowledge of a discrete logarithm (Schnorr 1991, made non-interactive by
 * Fiat–Shamir), as the Pedersen DKG of RFC 9591 Appendix C / Komlo–Goldberg (FROST, 2020)
 * requires for each dealer's constant term: it stops a rogue-key attack in which a dealer picks
 * its commitment as a function of the others'. The challenge binds the group, the session, the
 * proving party and a purpose, so a proof cannot be replayed into another session, by another
 * party, or for another statement.
 */
export type PokContext = { sessionId: string; party: string; purpose: string };

const CHALLENGE_TAG = 'custos/schnorr-pok/challenge/v1';
const NONCE_TAG = 'custos/schnorr-pok/nonce/v1';

/** Encoded proof length: R (a point) || z (a scalar). */
export function pokLength(group: Group): number {
  return group.pointBytes + group.scalarBytes;
}

function challenge(group: Group, ctx: PokContext, X: Uint8Array, R: Uint8Array): bigint {
  return hashToScalar(group, CHALLENGE_TAG, [group.name, ctx.sessionId, ctx.party, ctx.purpose, X, R]);
}

/** Proves knowledge of `secret` (1 <= secret < order) for X = secret·G. Returns R || z. */
export function proveKnowledge(group: Group, secret: bigint, ctx: PokContext, rng: Rng = secureRng): Uint8Array {
  const X = group.encodePoint(group.base.multiply(secret));
  // Hedged nonce: fresh randomness and the secret both feed it, so a weak rng alone cannot
  // repeat a nonce across two statements.
  const seed = rng(32);
  const xBytes = group.encodeScalar(secret);
  const k = hashToScalar(group, NONCE_TAG, [seed, xBytes, group.name, ctx.sessionId, ctx.party, ctx.purpose, X]);
  wipe(seed, xBytes);
  if (k === 0n) throw new Error('degenerate nonce');
  const R = group.encodePoint(group.base.multiply(k));
  const c = challenge(group, ctx, X, R);
  const z = group.Fn.add(k, group.Fn.mul(c, secret));
  return concatBytes(R, group.encodeScalar(z));
}

/** Checks a proof of knowledge of log_G(X) in `ctx`. Never throws on malformed input. */
export function verifyKnowledge(group: Group, X: GroupPoint, proof: Uint8Array, ctx: PokContext): boolean {
  if (!(proof instanceof Uint8Array) || proof.length !== pokLength(group) || X.is0()) return false;
  let R: GroupPoint;
  let z: bigint;
  try {
    R = group.decodePoint(proof.subarray(0, group.pointBytes));
    z = group.decodeScalar(proof.subarray(group.pointBytes));
  } catch {
    return false;
  }
  const c = challenge(group, ctx, group.encodePoint(X), proof.subarray(0, group.pointBytes));
  return group.base.multiplyUnsafe(z).equals(R.add(X.multiplyUnsafe(c)));
}
