import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { p256 } from '@noble/curves/nist.js';
import { utf8 } from '../../src/common/bytes.ts';
import { ECIES_OVERHEAD, eciesDecrypt, eciesEncrypt, encryptionPublicKey } from '../../src/crypto/ecies.ts';
import { seededRng } from './rng.ts';

describe('ECIES to a P-256 key (HKDF-SHA256, AES-256-GCM)', () => {
  const rng = seededRng('ecies');
  const sk = p256.utils.randomSecretKey(rng(48));
  const pk = p256.getPublicKey(sk, true);
  const otherSk = p256.utils.randomSecretKey(rng(48));
  const context = utf8('session-1/alice->bob');
  const plaintext = Uint8Array.from({ length: 32 }, (_, i) => i);

  it('round-trips, with E || body || tag of the documented length, and a fresh E each time', () => {
    const ct = eciesEncrypt(pk, plaintext, context, rng);
    assert.equal(ct.length, plaintext.length + ECIES_OVERHEAD);
    assert.deepEqual(eciesDecrypt(sk, ct, context), plaintext);
    const ct2 = eciesEncrypt(pk, plaintext, context, rng);
    assert.notDeepEqual(ct2.subarray(0, 33), ct.subarray(0, 33));
    assert.deepEqual(encryptionPublicKey(sk), pk);
  });

  it('binds the context (AAD and KDF): another context does not open', () => {
    const ct = eciesEncrypt(pk, plaintext, context, rng);
    assert.throws(() => eciesDecrypt(sk, ct, utf8('session-1/alice->carol')), { code: 'crypto.decrypt_failed' });
    assert.throws(() => eciesDecrypt(sk, ct, new Uint8Array(0)), { code: 'crypto.decrypt_failed' });
  });

  it('opens only for its recipient, and refuses any tampering', () => {
    const ct = eciesEncrypt(pk, plaintext, context, rng);
    assert.throws(() => eciesDecrypt(otherSk, ct, context), { code: 'crypto.decrypt_failed' });
    for (const at of [40, ct.length - 1]) {
      const t = ct.slice();
      t[at] ^= 1;
      assert.throws(() => eciesDecrypt(sk, t, context), { code: 'crypto.decrypt_failed' }, `byte ${at}`);
    }
    const e = ct.slice();
    e[0] = e[0] === 2 ? 3 : 2; // the other point with the same x: a different E
    assert.throws(() => eciesDecrypt(sk, e, context), { code: 'crypto.decrypt_failed' });
    assert.throws(() => eciesDecrypt(sk, ct.subarray(0, 40), context), { code: 'crypto.bad_ciphertext' });
  });

  it('refuses a bad recipient key and a bad secret key', () => {
    assert.throws(() => eciesEncrypt(new Uint8Array(33), plaintext, context, rng), { code: 'crypto.bad_point' });
    assert.throws(() => eciesDecrypt(new Uint8Array(32), eciesEncrypt(pk, plaintext, context, rng), context), { code: 'crypto.bad_secret_key' });
  });
});
