import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commitPolynomial, evaluateCommitments, sumCommitments, verifyShare } from '../../src/crypto/feldman.ts';
import { getGroup, type GroupName } from '../../src/crypto/group.ts';
import { interpolateAtZero, lagrangeCoefficient } from '../../src/crypto/lagrange.ts';
import { evaluatePolynomial, randomPolynomial, shamirSplit } from '../../src/crypto/polynomial.ts';
import { seededRng } from './rng.ts';

for (const name of ['ed25519', 'secp256k1'] as GroupName[]) {
  const g = getGroup(name);
  describe(`Shamir / Feldman / Lagrange over ${name}`, () => {
    it('evaluates f(x) = a0 + a1 x + a2 x^2 by Horner', () => {
      assert.equal(evaluatePolynomial(g, [3n, 5n, 7n], 2n), 3n + 10n + 28n);
      assert.equal(evaluatePolynomial(g, [3n, 5n, 7n], 0n), 3n);
      assert.equal(evaluatePolynomial(g, [g.order - 1n, 1n], 1n), 0n);
    });

    it('Feldman: honest shares verify; a tampered share, a wrong index or tampered commitments do not', () => {
      const { shares, coefficients } = shamirSplit(g, 12345n, 3, 5, seededRng(`vss/${name}`));
      const C = commitPolynomial(g, coefficients);
      assert.equal(C.length, 3);
      assert.ok(C[0].equals(g.base.multiply(12345n)));
      for (const s of shares) assert.equal(verifyShare(g, C, s.index, s.value), true);
      const s2 = shares[1];
      assert.equal(verifyShare(g, C, s2.index, g.Fn.add(s2.value, 1n)), false, 'share + 1');
      assert.equal(verifyShare(g, C, s2.index + 1n, s2.value), false, 'share at another index');
      assert.equal(verifyShare(g, [C[0], C[1].add(g.base), C[2]], s2.index, s2.value), false, 'tampered commitment');
      assert.equal(verifyShare(g, C, 0n, s2.value), false, 'index 0 is never a share');
      assert.equal(verifyShare(g, C, s2.index, g.order), false, 'out of range');
      assert.ok(evaluateCommitments(g, C, 4n).equals(g.base.multiply(shares[3].value)));
    });

    it('Lagrange interpolation recovers the secret from any t shares, and t-1 shares do not', () => {
      const secret = g.randomScalar(seededRng(`secret/${name}`));
      const { shares } = shamirSplit(g, secret, 3, 5, seededRng(`split/${name}`));
      for (const subset of [[0, 1, 2], [4, 2, 0], [1, 3, 4], [0, 1, 2, 3, 4]]) {
        assert.equal(interpolateAtZero(g, subset.map((i) => shares[i])), secret, `subset ${subset}`);
      }
      assert.notEqual(interpolateAtZero(g, [shares[0], shares[1]]), secret);
    });

    it('Lagrange coefficients: sum to 1 at x=0, interpolate at other points, reject bad index sets', () => {
      const S = [1n, 3n, 4n];
      const sum = S.reduce((acc, i) => g.Fn.add(acc, lagrangeCoefficient(g, S, i)), 0n);
      assert.equal(sum, 1n);
      const f = [9n, 8n, 7n];
      const at2 = S.reduce((acc, i) => g.Fn.add(acc, g.Fn.mul(evaluatePolynomial(g, f, i), lagrangeCoefficient(g, S, i, 2n))), 0n);
      assert.equal(at2, evaluatePolynomial(g, f, 2n));
      assert.throws(() => lagrangeCoefficient(g, [1n, 1n, 2n], 1n), { code: 'crypto.bad_indices' });
      assert.throws(() => lagrangeCoefficient(g, [0n, 1n], 1n), { code: 'crypto.bad_indices' });
      assert.throws(() => lagrangeCoefficient(g, [1n, 2n], 3n), { code: 'crypto.bad_indices' });
    });

    it('summed commitments commit to the summed polynomial', () => {
      const rng = seededRng(`sum/${name}`);
      const f1 = randomPolynomial(g, 3, rng);
      const f2 = randomPolynomial(g, 3, rng);
      const C = sumCommitments(g, [commitPolynomial(g, f1), commitPolynomial(g, f2)]);
      const s = g.Fn.add(evaluatePolynomial(g, f1, 7n), evaluatePolynomial(g, f2, 7n));
      assert.equal(verifyShare(g, C, 7n, s), true);
      assert.equal(verifyShare(g, C, 7n, evaluatePolynomial(g, f1, 7n)), false);
    });
  });
}
