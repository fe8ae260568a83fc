import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { velocityAllowed } from '../../src/policy/velocity-soundness.ts';

describe('velocityAllowed', () => {
  it('allows when every two quorums intersect (2t > n)', () => {
    for (const [t, n] of [[2, 3], [3, 5], [3, 4], [1, 1], [4, 4]]) {
      const r = velocityAllowed(t, n, false);
      assert.equal(r.ok, true, `${t}-of-${n}`);
      assert.match(r.reason, /2t > n/);
    }
  });

  it('refuses when two quorums can be disjoint (2t <= n), saying why', () => {
    for (const [t, n] of [[1, 2], [2, 4], [1, 3], [3, 6]]) {
      const r = velocityAllowed(t, n, false);
      assert.equal(r.ok, false, `${t}-of-${n}`);
      assert.match(r.reason, /disjoint/);
      assert.match(r.reason, /cold party/);
      assert.match(r.reason, new RegExp(`threshold ${t} of ${n}`));
    }
  });

  it('a mandatory cold party makes 2t <= n acceptable', () => {
    const r = velocityAllowed(2, 4, true);
    assert.equal(r.ok, true);
    assert.match(r.reason, /cold party is in every quorum/);
  });

  it('refuses impossible key shapes', () => {
    for (const [t, n] of [[0, 3], [4, 3], [1.5, 3], [-1, 2]]) {
      assert.equal(velocityAllowed(t, n, true).ok, false, `${t}-of-${n}`);
    }
  });
});
