import type { ECDSA, ECDSASignature } from '@noble/curves/abstract/weierstrass.js';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { equalBytes } from '../common/bytes.ts';
import { HsmError } from '../common/errors.ts';

/**
 * Short-Weierstrass keys (CKK_EC) as PKCS#11 stores them and CKM_ECDSA signs with them, for any
 * curve: the node identity key is on P-256, the legacy single key on secp256k1. The curve is a
 * parameter so that both read the token's answers with the same checks.
 */
export type EcCurve = {
  /** The curve's name in errors. */
  name: string;
  /** CKA_EC_PARAMS naming the curve (a DER OBJECT IDENTIFIER). */
  ecParams: Uint8Array;
  /** The independent implementation every point and signature the token gives is checked with. */
  ecdsa: ECDSA;
};

/** CKA_EC_PARAMS for P-256: DER OBJECT IDENTIFIER 1.2.840.10045.3.1.7 (prime256v1). */
export const P256_EC_PARAMS = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
/** CKA_EC_PARAMS of secp256k1: DER OBJECT IDENTIFIER 1.3.132.0.10 (SEC 2 §2.4.1). */
export const SECP256K1_EC_PARAMS = Uint8Array.of(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a);

export const P256: EcCurve = { name: 'P-256', ecParams: P256_EC_PARAMS, ecdsa: p256 };
export const SECP256K1: EcCurve = { name: 'secp256k1', ecParams: SECP256K1_EC_PARAMS, ecdsa: secp256k1 };

export function isCurveParams(curve: EcCurve, ecParams: Uint8Array): boolean {
  return equalBytes(ecParams, curve.ecParams);
}

/**
 * The encoded point inside CKA_EC_POINT, which must be `length` bytes. PKCS#11 2.40 §2.3.3 (and
 * 3.0 §2.3.5 for Edwards keys) makes the value the DER OCTET STRING around the encoding
 * (04 ‖ length ‖ point); some modules give the bare encoding, so both are accepted.
 * Undefined when the value is neither: the caller names the curve in its error.
 */
export function ecPointEncoding(ecPoint: Uint8Array, length: number): Uint8Array | undefined {
  const raw = ecPoint.length === length + 2 && ecPoint[0] === 0x04 && ecPoint[1] === length ? ecPoint.subarray(2) : ecPoint;
  return raw.length === length ? raw : undefined;
}

/**
 * CKA_EC_POINT to compressed SEC 1 (33 bytes). The token gives the uncompressed point
 * (04 ‖ X ‖ Y, 65 bytes), checked here to lie on `curve`.
 */
export function ecPointToCompressed(ecPoint: Uint8Array, curve: EcCurve): Uint8Array {
  const raw = ecPointEncoding(ecPoint, 65);
  if (raw === undefined || raw[0] !== 0x04) throw new HsmError('hsm.bad_public_key', `CKA_EC_POINT is not an uncompressed ${curve.name} point (${ecPoint.length} bytes)`);
  try {
    return curve.ecdsa.Point.fromBytes(raw).toBytes(true);
  } catch (e) {
    throw new HsmError('hsm.bad_public_key', `CKA_EC_POINT is not a point of ${curve.name}`, e);
  }
}

/**
 * CKM_ECDSA output (r ‖ s, 32 bytes each, PKCS#11 2.40 §2.3.1) in the low-s form custos'
 * signatures take (BIP 62 / EIP-2), so that a signature has exactly one valid encoding.
 * s and n - s both verify; callers that need the recovery id compute it for this one.
 */
export function lowS(rs: Uint8Array, curve: EcCurve): ECDSASignature {
  if (rs.length !== 64) throw new HsmError('hsm.device_error', `CKM_ECDSA returned ${rs.length} bytes, expected 64`);
  const { Signature, Point } = curve.ecdsa;
  let sig;
  try {
    sig = Signature.fromBytes(rs, 'compact');
  } catch (e) {
    throw new HsmError('hsm.bad_signature', 'CKM_ECDSA returned r or s outside 1..n-1', e);
  }
  return sig.hasHighS() ? new Signature(sig.r, Point.Fn.ORDER - sig.s) : sig;
}

/** lowS, encoded as the 64 bytes r ‖ s. */
export function lowSCompact(rs: Uint8Array, curve: EcCurve): Uint8Array {
  return lowS(rs, curve).toBytes('compact');
}
