import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8 } from '../../src/common/bytes.ts';
import { ecPointToCompressed, isCurveParams, lowSCompact, P256, P256_EC_PARAMS, SECP256K1, SECP256K1_EC_PARAMS, type EcCurve } from '../../src/hsm/pkcs11-ec.ts';
import { hsmError } from './hsm-error.ts';

/** The same checks on both curves: the helpers take the curve as a parameter. */
for (const curve of [P256, SECP256K1] as EcCurve[]) {
  const { ecdsa } = curve;

  test(`${curve.name} CKA_EC_POINT: DER OCTET STRING or bare uncompressed point, checked on the curve`, () => {
    const sk = ecdsa.utils.randomSecretKey();
    const compressed = ecdsa.getPublicKey(sk, true);
    const uncompressed = ecdsa.getPublicKey(sk, false);
    assert.deepEqual(ecPointToCompressed(concatBytes(Uint8Array.of(0x04, 0x41), uncompressed), curve), compressed);
    assert.deepEqual(ecPointToCompressed(uncompressed, curve), compressed);
    const offCurve = uncompressed.slice();
    offCurve[64] ^= 1;
    assert.throws(() => ecPointToCompressed(offCurve, curve), hsmError('hsm.bad_public_key', `not a point of ${curve.name}`));
    assert.throws(() => ecPointToCompressed(compressed, curve), hsmError('hsm.bad_public_key', `not an uncompressed ${curve.name} point`));
    assert.throws(() => ecPointToCompressed(uncompressed.subarray(1), curve), hsmError('hsm.bad_public_key'));
  });

  test(`${curve.name} lowSCompact turns a high-s signature into the low-s one, which still verifies`, () => {
    const sk = ecdsa.utils.randomSecretKey();
    const pub = ecdsa.getPublicKey(sk);
    const digest = sha256(utf8('hello'));
    const low = ecdsa.Signature.fromBytes(ecdsa.sign(digest, sk, { prehash: false, lowS: true }), 'compact');
    const high = new ecdsa.Signature(low.r, ecdsa.Point.Fn.ORDER - low.s).toBytes('compact');
    assert.ok(!ecdsa.verify(high, digest, pub, { prehash: false, lowS: true }));
    assert.deepEqual(lowSCompact(high, curve), low.toBytes('compact'));
    assert.deepEqual(lowSCompact(low.toBytes('compact'), curve), low.toBytes('compact'));
    assert.ok(ecdsa.verify(lowSCompact(high, curve), digest, pub, { prehash: false, lowS: true }));
    assert.throws(() => lowSCompact(new Uint8Array(63), curve), hsmError('hsm.device_error', '63 bytes'));
    assert.throws(() => lowSCompact(new Uint8Array(64), curve), hsmError('hsm.bad_signature', 'outside'));
  });
}

test('curve OIDs: each curve knows its own and no other', () => {
  assert.ok(isCurveParams(P256, P256_EC_PARAMS));
  assert.ok(!isCurveParams(P256, SECP256K1_EC_PARAMS));
  assert.ok(isCurveParams(SECP256K1, SECP256K1_EC_PARAMS));
  assert.ok(!isCurveParams(SECP256K1, P256_EC_PARAMS));
  assert.deepEqual(SECP256K1_EC_PARAMS, Uint8Array.of(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a));
});
