import assert from 'node:assert/strict';
import { test } from 'node:test';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8 } from '../../src/common/bytes.ts';
import { HsmError } from '../../src/common/errors.ts';
import { ecPointToCompressed, isP256Params, lowSCompact, P256_EC_PARAMS } from '../../src/hsm/pkcs11-ec.ts';

test('CKA_EC_POINT: DER OCTET STRING or bare uncompressed point, checked on the curve', () => {
  const sk = p256.utils.randomSecretKey();
  const compressed = p256.getPublicKey(sk, true);
  const uncompressed = p256.getPublicKey(sk, false);
  assert.deepEqual(ecPointToCompressed(concatBytes(Uint8Array.of(0x04, 0x41), uncompressed)), compressed);
  assert.deepEqual(ecPointToCompressed(uncompressed), compressed);
  const offCurve = uncompressed.slice();
  offCurve[64] ^= 1;
  assert.throws(() => ecPointToCompressed(offCurve), (e: unknown) => e instanceof HsmError && e.code === 'hsm.bad_public_key');
  assert.throws(() => ecPointToCompressed(compressed), (e: unknown) => e instanceof HsmError && e.code === 'hsm.bad_public_key');
});

test('P-256 OID', () => {
  assert.ok(isP256Params(P256_EC_PARAMS));
  assert.ok(!isP256Params(Uint8Array.of(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a))); // secp256k1
});

test('lowSCompact turns a high-s signature into the low-s one, which still verifies', () => {
  const sk = p256.utils.randomSecretKey();
  const pub = p256.getPublicKey(sk);
  const digest = sha256(utf8('hello'));
  const low = p256.Signature.fromBytes(p256.sign(digest, sk, { prehash: false, lowS: true }), 'compact');
  const high = new p256.Signature(low.r, p256.Point.Fn.ORDER - low.s).toBytes('compact');
  assert.ok(!p256.verify(high, digest, pub, { prehash: false, lowS: true }));
  assert.deepEqual(lowSCompact(high), low.toBytes('compact'));
  assert.deepEqual(lowSCompact(low.toBytes('compact')), low.toBytes('compact'));
  assert.ok(p256.verify(lowSCompact(high), digest, pub, { prehash: false, lowS: true }));
  assert.throws(() => lowSCompact(new Uint8Array(63)), (e: unknown) => e instanceof HsmError);
});
