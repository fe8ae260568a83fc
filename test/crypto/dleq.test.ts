import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { p256 } from '@noble/curves/nist.js';
import { utf8 } from '../../src/common/bytes.ts';
import { decryptWithProof, proveDecryption, verifyDecryption } from '../../src/crypto/decryption-proof.ts';
import { proveDleq, verifyDleq } from '../../src/crypto/dleq.ts';
import { eciesEncrypt } from '../../src/crypto/ecies.ts';
import { getGroup, type GroupName } from '../../src/crypto/group.ts';
import { seededRng } from './rng.ts';

for (const name of ['p256', 'secp256k1', 'ed25519'] as GroupName[]) {
  describe(`Chaum-Pedersen DLEQ over ${name}`, () => {
    const g = getGroup(name);
    const rng = seededRng(`dleq/${name}`);
    const x = g.randomScalar(rng);
    const H = g.base.multiply(g.randomScalar(rng));
    const X = g.base.multiply(x);
    const Y = H.multiply(x);
    const ctx = utf8('ctx');
    const proof = proveDleq(g, x, H, ctx, rng);

    it('accepts an honest proof', () => {
      assert.equal(verifyDleq(g, X, H, Y, proof, ctx), true);
    });

    it('rejects a wrong Y, X, H or context, and tampered proofs', () => {
      assert.equal(verifyDleq(g, X, H, Y.add(g.base), proof, ctx), false, 'Y');
      assert.equal(verifyDleq(g, X, H, H.multiply(g.Fn.add(x, 1n)), proof, ctx), false, 'Y for another log');
      assert.equal(verifyDleq(g, X.add(g.base), H, Y, proof, ctx), false, 'X');
      assert.equal(verifyDleq(g, X, H.add(g.base), Y, proof, ctx), false, 'H');
      assert.equal(verifyDleq(g, X, H, Y, proof, utf8('ctx2')), false, 'context');
      const t = proof.slice();
      t[63] ^= 1;
      assert.equal(verifyDleq(g, X, H, Y, t, ctx), false, 'tampered z');
      assert.equal(verifyDleq(g, X, H, Y, proof.subarray(1), ctx), false, 'short');
    });
  });
}

describe('verifiable ECIES decryption (revealed ECDH point + DLEQ)', () => {
  const rng = seededRng('decryption-proof');
  const sk = p256.utils.randomSecretKey(rng(48));
  const pk = p256.getPublicKey(sk, true);
  const otherPk = p256.getPublicKey(p256.utils.randomSecretKey(rng(48)), true);
  const context = utf8('session/alice->bob');
  const message = utf8('a share of exactly thirty-two b.');
  const ct = eciesEncrypt(pk, message, context, rng);

  it('anyone can check the revealed point and open that ciphertext', () => {
    const revealed = proveDecryption(sk, ct, context, rng);
    assert.equal(revealed.shared.length, 33);
    assert.equal(revealed.proof.length, 64);
    assert.equal(verifyDecryption(pk, ct, context, revealed), true);
    assert.deepEqual(decryptWithProof(pk, ct, context, revealed), message);
  });

  it('rejects a proof for another key, ciphertext or context, and a substituted point', () => {
    const revealed = proveDecryption(sk, ct, context, rng);
    assert.equal(verifyDecryption(otherPk, ct, context, revealed), false, 'another recipient key');
    const ct2 = eciesEncrypt(pk, message, context, rng);
    assert.equal(verifyDecryption(pk, ct2, context, revealed), false, 'another ciphertext');
    assert.equal(verifyDecryption(pk, ct, utf8('session/alice->carol'), revealed), false, 'another context');
    const G = getGroup('p256');
    const wrong = G.encodePoint(G.decodePoint(revealed.shared).add(G.base));
    assert.equal(verifyDecryption(pk, ct, context, { shared: wrong, proof: revealed.proof }), false, 'another point');
    assert.equal(decryptWithProof(pk, ct, context, { shared: wrong, proof: revealed.proof }), undefined);
    assert.equal(verifyDecryption(pk, ct, context, { shared: new Uint8Array(33), proof: revealed.proof }), false, 'junk point');
  });

  it('a valid proof on a ciphertext that does not open blames the ciphertext (decrypt_failed)', () => {
    // Encrypted under another context: the receiver's ECDH point is right but the tag fails.
    const bad = eciesEncrypt(pk, message, utf8('some other context'), rng);
    const revealed = proveDecryption(sk, bad, context, rng);
    assert.equal(verifyDecryption(pk, bad, context, revealed), true);
    assert.throws(() => decryptWithProof(pk, bad, context, revealed), { code: 'crypto.decrypt_failed' });
  });
});
