import { p256 } from '@noble/curves/nist.js';
import { equalBytes } from '../common/bytes.ts';
import { HsmError } from '../common/errors.ts';

/** CKA_EC_PARAMS for P-256: DER OBJECT IDENTIFIER 1.2.840.10045.3.1.7 (prime256v1). */
export const P256_EC_PARAMS = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);

export function isP256Params(ecParams: Uint8Array): boolean {
  return equalBytes(ecParams, P256_EC_PARAMS);
}

/**
 * CKA_EC_POINT to compressed SEC1 (33 bytes). PKCS#11 2.40 §2.3.3 says the value is the DER
 * OCTET STRING wrapping the uncompressed point (04 41 04‖X‖Y); some modules return the bare
 * point, so both are accepted. The point is checked to lie on P-256.
 */
export function ecPointToCompressed(ecPoint: Uint8Array): Uint8Array {
  let raw = ecPoint;
  if (ecPoint.length === 67 && ecPoint[0] === 0x04 && ecPoint[1] === 0x41) raw = ecPoint.subarray(2);
  if (raw.length !== 65 || raw[0] !== 0x04) throw new HsmError('hsm.bad_public_key', `CKA_EC_POINT is not an uncompressed P-256 point (${ecPoint.length} bytes)`);
  try {
    return p256.Point.fromBytes(raw).toBytes(true);
  } catch (e) {
    throw new HsmError('hsm.bad_public_key', 'CKA_EC_POINT is not a point of P-256', e);
  }
}

/**
 * CKM_ECDSA output (r‖s, 32 bytes each, PKCS#11 2.40 §2.3.1) to the low-s form custos
 * signatures take, so that a signature has exactly one valid encoding.
 */
export function lowSCompact(rs: Uint8Array): Uint8Array {
  if (rs.length !== 64) throw new HsmError('hsm.device_error', `CKM_ECDSA returned ${rs.length} bytes, expected 64`);
  const sig = p256.Signature.fromBytes(rs, 'compact');
  if (!sig.hasHighS()) return sig.toBytes('compact');
  return new p256.Signature(sig.r, p256.Point.Fn.ORDER - sig.s).toBytes('compact');
}
