import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getGroup, type GroupName } from '../../src/crypto/group.ts';
import { pokLength, proveKnowledge, verifyKnowledge, type PokContext } from '../../src/crypto/schnorr-pok.ts';
import { seededRng } from './rng.ts';

for (const name of ['ed25519', 'secp256k1', 'p256'] as GroupName[]) {
  const g = getGroup(name);
  describe(`Schnorr proof of knowledge over ${name}`, () => {
    const rng = seededRng(`pok/${name}`);
    const x = g.randomScalar(rng);
    const X = g.base.multiply(x);
    const ctx: PokContext = { sessionId: 'session-1', party: 'alice', purpose: 'test/constant-term' };
    const proof = proveKnowledge(g, x, ctx, rng);

    it('accepts an honest proof in its context', () => {
      assert.equal(proof.length, pokLength(g));
      assert.equal(verifyKnowledge(g, X, proof, ctx), true);
    });

    it('rejects the proof in any other context (session, party, purpose)', () => {
      assert.equal(verifyKnowledge(g, X, proof, { ...ctx, sessionId: 'session-2' }), false);
      assert.equal(verifyKnowledge(g, X, proof, { ...ctx, party: 'bob' }), false);
      assert.equal(verifyKnowledge(g, X, proof, { ...ctx, purpose: 'test/other' }), false);
      // Field boundaries are length-prefixed: moving a character between fields changes the challenge.
      assert.equal(verifyKnowledge(g, X, proof, { ...ctx, sessionId: 'session-1a', party: 'lice' }), false);
    });

    it('rejects the proof for another public key, and malformed proofs', () => {
      assert.equal(verifyKnowledge(g, X.add(g.base), proof, ctx), false);
      const flipped = proof.slice();
      flipped[proof.length - 1] ^= 1;
      assert.equal(verifyKnowledge(g, X, flipped, ctx), false);
      assert.equal(verifyKnowledge(g, X, proof.subarray(1), ctx), false);
      assert.equal(verifyKnowledge(g, X, new Uint8Array(proof.length), ctx), false);
    });

    it('a proof made with another secret does not verify for X', () => {
      const other = proveKnowledge(g, g.Fn.add(x, 1n), ctx, rng);
      assert.equal(verifyKnowledge(g, X, other, ctx), false);
    });
  });
}
