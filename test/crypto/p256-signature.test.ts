import { test } from 'node:test';
import assert from 'node:assert/strict';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { verifyP256 } from '../../src/crypto/p256-signature.ts';

test('identity signatures: node:crypto verification agrees with @noble/curves, low-s only', () => {
  for (let i = 0; i < 20; i++) {
    const sk = p256.utils.randomSecretKey();
    const pk = p256.getPublicKey(sk, true);
    const msg = new TextEncoder().encode(`message ${i}`);
    const sig = p256.sign(sha256(msg), sk, { prehash: false, lowS: true });
    assert.ok(verifyP256(pk, msg, sig));
    assert.ok(p256.verify(sig, sha256(msg), pk, { prehash: false }));
    assert.ok(!verifyP256(pk, new TextEncoder().encode(`message ${i}!`), sig), 'other message');
    assert.ok(!verifyP256(p256.getPublicKey(p256.utils.randomSecretKey(), true), msg, sig), 'other key');
    // The same signature with s -> n - s is valid ECDSA but high-s: refused (malleability).
    const n = p256.Point.Fn.ORDER;
    const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
    const high = new Uint8Array(sig);
    high.set(Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex'), 32);
    assert.ok(!verifyP256(pk, msg, high));
    const bad = new Uint8Array(sig); bad[5] ^= 1;
    assert.ok(!verifyP256(pk, msg, bad));
    assert.ok(!verifyP256(pk, msg, sig.subarray(0, 63)));
  }
});
