import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';

/**
 * Verification of identity signatures (ECDSA P-256 over SHA-256, 64-byte r||s, low-s) through
 * node:crypto (OpenSSL): every protocol message and receipt is checked, so this is on the hot
 * path, and OpenSSL's constant-time-free verify is ~30x faster than a pure-JS one. Points are
 * decoded and validated by @noble/curves once per key and cached.
 */
const HALF_N = p256.Point.Fn.ORDER >> 1n;
const cache = new Map<string, KeyObject>();

function keyObject(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey).toString('hex');
  let k = cache.get(id);
  if (!k) {
    const a = p256.Point.fromBytes(publicKey).toAffine();
    const b64 = (v: bigint) => Buffer.from(v.toString(16).padStart(64, '0'), 'hex').toString('base64url');
    k = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64(a.x), y: b64(a.y) }, format: 'jwk' });
    if (cache.size > 1024) cache.clear();
    cache.set(id, k);
  }
  return k;
}

export function verifyP256(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  const s = BigInt('0x' + Buffer.from(signature.subarray(32)).toString('hex'));
  if (s === 0n || s > HALF_N) return false;
  try {
    return nodeVerify('sha256', message, { key: keyObject(publicKey), dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
