import type { FrostPublic, FrostSecret } from '@noble/curves/abstract/frost.js';
import { schnorr } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';

/**
 * BIP86 key-path-only Taproot tweak of a threshold key (BIP341 taproot_tweak_pubkey /
 * taproot_tweak_seckey with an empty script tree, as BIP86 prescribes):
 *   P = lift_x(x(group key)),  t = int(hash_TapTweak(x(P))),  Q = P + t·G.
 * If the group key has odd Y, every share is negated first (so the shares add up to the secret of
 * lift_x(x)), then t is added to every share: shares stay a Shamir sharing, now of Q's secret, and
 * every verifying share moves by t·G. noble's schnorr_FROST applies exactly this to the output of
 * its own DKG (`adjustDKG`), but not to imported keys, so we apply it to ours. Q itself may have odd
 * Y; schnorr_FROST normalises that at signing time (BIP340 even-Y convention).
 */
const Point = schnorr.Point;
const Fn = Point.Fn;

/** t = int(hash_TapTweak(x)) for the x-only internal key x; BIP341 rejects t >= n. */
function tapTweak(internalXOnly: Uint8Array): bigint {
  const t = bytesToNumberBE(schnorr.utils.taggedHash('TapTweak', internalXOnly));
  if (t >= Fn.ORDER) throw new Error('TapTweak hash is not a valid scalar');
  return t;
}

function hasOddY(compressed: Uint8Array): boolean {
  return compressed[0] === 0x03;
}

/** The x-only (BIP340) encoding of a compressed secp256k1 point. */
export function xOnly(compressed: Uint8Array): Uint8Array {
  return compressed.slice(1, 33);
}

export function tweakPublic(pub: FrostPublic): FrostPublic {
  const gk = pub.commitments[0];
  const negate = hasOddY(gk);
  const t = tapTweak(xOnly(gk));
  const tG = Point.BASE.multiply(t);
  const norm = (hex: Uint8Array) => (negate ? Point.fromBytes(hex).negate() : Point.fromBytes(hex));
  return {
    signers: { min: pub.signers.min, max: pub.signers.max },
    commitments: pub.commitments.map((c, i) => (i === 0 ? norm(c).add(tG) : norm(c)).toBytes(true)),
    verifyingShares: Object.fromEntries(Object.entries(pub.verifyingShares).map(([id, v]) => [id, norm(v).add(tG).toBytes(true)])),
  };
}

/** `untweakedGroupKey` is commitments[0] of the public package before tweakPublic. */
export function tweakSecret(secret: FrostSecret, untweakedGroupKey: Uint8Array): FrostSecret {
  const s = Fn.fromBytes(secret.signingShare);
  const t = tapTweak(xOnly(untweakedGroupKey));
  const even = hasOddY(untweakedGroupKey) ? Fn.neg(s) : s;
  // Fn.toBytes always returns a fresh ArrayBuffer-backed array; the cast only tells TypeScript.
  return { identifier: secret.identifier, signingShare: Fn.toBytes(Fn.add(even, t)) as Uint8Array<ArrayBuffer> };
}
