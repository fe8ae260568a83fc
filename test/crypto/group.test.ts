import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromHex, toHex } from '../../src/common/bytes.ts';
import { getGroup, type GroupName } from '../../src/crypto/group.ts';
import { seededRng } from './rng.ts';

const NAMES: GroupName[] = ['ed25519', 'secp256k1', 'p256'];

describe('group encodings', () => {
  it('scalars: ed25519 little-endian, secp256k1 and p256 big-endian, 32 bytes', () => {
    assert.equal(toHex(getGroup('ed25519').encodeScalar(1n)), '01' + '00'.repeat(31));
    assert.equal(toHex(getGroup('secp256k1').encodeScalar(1n)), '00'.repeat(31) + '01');
    assert.equal(toHex(getGroup('p256').encodeScalar(258n)), '00'.repeat(30) + '0102');
    assert.equal(getGroup('ed25519').decodeScalar(fromHex('02' + '00'.repeat(31))), 2n);
  });

  for (const name of NAMES) {
    const g = getGroup(name);
    it(`${name}: scalar decoding is canonical (rejects >= order, wrong length), accepts order-1 and 0`, () => {
      assert.equal(g.decodeScalar(g.encodeScalar(g.order - 1n)), g.order - 1n);
      assert.equal(g.decodeScalar(new Uint8Array(32)), 0n);
      const orderBytes = name === 'ed25519'
        ? Uint8Array.from(g.encodeScalar(g.order - 1n).map((b, i) => (i === 0 ? b + 1 : b)))
        : Uint8Array.from(g.encodeScalar(g.order - 1n).map((b, i) => (i === 31 ? b + 1 : b)));
      assert.throws(() => g.decodeScalar(orderBytes), { code: 'crypto.bad_scalar' });
      assert.throws(() => g.decodeScalar(new Uint8Array(32).fill(0xff)), { code: 'crypto.bad_scalar' });
      assert.throws(() => g.decodeScalar(new Uint8Array(31)), { code: 'crypto.bad_scalar' });
      assert.throws(() => g.decodeScalar(new Uint8Array(33)), { code: 'crypto.bad_scalar' });
      assert.throws(() => g.encodeScalar(g.order), { code: 'crypto.bad_scalar' });
    });

    it(`${name}: points round-trip at ${g.pointBytes} bytes; identity and junk are rejected`, () => {
      const rng = seededRng(`points/${name}`);
      const p = g.base.multiply(g.randomScalar(rng));
      const enc = g.encodePoint(p);
      assert.equal(enc.length, g.pointBytes);
      assert.ok(g.decodePoint(enc).equals(p));
      assert.throws(() => g.encodePoint(g.zero), { code: 'crypto.bad_point' });
      assert.throws(() => g.decodePoint(enc.subarray(1)), { code: 'crypto.bad_point' });
      assert.throws(() => g.decodePoint(new Uint8Array(g.pointBytes)), { code: 'crypto.bad_point' });
      if (name !== 'ed25519') {
        const bad = enc.slice();
        bad[0] = 0x04; // uncompressed prefix at compressed length
        assert.throws(() => g.decodePoint(bad), { code: 'crypto.bad_point' });
        // About half of all x have no point on the curve: some small x must be refused.
        let rejected = 0;
        for (let x = 1; x < 20; x++) {
          const c = new Uint8Array(33);
          c[0] = 2;
          c[32] = x;
          try { g.decodePoint(c); } catch { rejected++; }
        }
        assert.ok(rejected > 0, 'some small x are not on the curve and must be rejected');
      }
    });

    it(`${name}: random scalars are in [1, order-1] and depend on the rng`, () => {
      const a = g.randomScalar(seededRng('a'));
      assert.ok(a > 0n && a < g.order);
      assert.equal(g.randomScalar(seededRng('a')), a);
      assert.notEqual(g.randomScalar(seededRng('b')), a);
      assert.throws(() => g.randomScalar(() => new Uint8Array(32)));
    });
  }

  it('ed25519: the identity encoding, small-order and mixed-order points, and non-canonical y are rejected', () => {
    const g = getGroup('ed25519');
    const identity = fromHex('01' + '00'.repeat(31));
    assert.throws(() => g.decodePoint(identity), { code: 'crypto.bad_point' });
    // A point of order 2: (0, -1).
    const order2 = fromHex('ec' + 'ff'.repeat(30) + '7f');
    assert.throws(() => g.decodePoint(order2), { code: 'crypto.bad_point' });
    // A mixed-order point: a prime-order point plus a torsion point.
    const torsion = ed25519.Point.fromBytes(order2);
    const mixed = (g.base.multiply(5n) as unknown as typeof torsion).add(torsion);
    assert.throws(() => g.decodePoint(mixed.toBytes()), { code: 'crypto.bad_point' });
    // y = p (non-canonical encoding of y = 0).
    const yEqualsP = fromHex('ed' + 'ff'.repeat(30) + '7f');
    assert.throws(() => g.decodePoint(yEqualsP), { code: 'crypto.bad_point' });
  });
});
