import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GF208_BYTES, GF208_WORDS, gfLoad, gfMul, gfMulAcc, gfMultiplier, gfStore } from '../../../src/protocols/dkls23/gf2-208.ts';
import { seededRng } from '../../crypto/rng.ts';

// Slow reference: elements as BigInt polynomials (bit i = coefficient of X^i), schoolbook
// carry-less multiplication, reduction by long division.
const F = (1n << 208n) | (1n << 9n) | (1n << 3n) | (1n << 1n) | 1n;

const toBig = (b: Uint8Array): bigint => b.reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
function fromBig(x: bigint): Uint8Array {
  const out = new Uint8Array(GF208_BYTES);
  for (let i = 0; i < GF208_BYTES; i++) out[i] = Number((x >> BigInt(8 * i)) & 0xffn);
  return out;
}
const degree = (x: bigint): number => x.toString(2).length - 1;
function clmul(a: bigint, b: bigint): bigint {
  let r = 0n;
  for (let i = 0n; a >> i; i++) if ((a >> i) & 1n) r ^= b << i;
  return r;
}
function polyMod(a: bigint, m: bigint): bigint {
  const dm = degree(m);
  while (a !== 0n && degree(a) >= dm) a ^= m << BigInt(degree(a) - dm);
  return a;
}
function polyGcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, polyMod(a, b)];
  return a;
}
const refMul = (a: Uint8Array, b: Uint8Array): Uint8Array => fromBig(polyMod(clmul(toBig(a), toBig(b)), F));

describe('GF(2^208)', () => {
  const rng = seededRng('gf2-208');
  const one = fromBig(1n);
  const zero = new Uint8Array(GF208_BYTES);
  const xor = (a: Uint8Array, b: Uint8Array) => a.map((v, i) => v ^ b[i]);

  it('uses an irreducible polynomial (Rabin: X^(2^208) = X mod f, gcd(X^(2^(208/p)) - X, f) = 1 for p = 2, 13)', () => {
    const frobenius = (k: number) => {
      let x = 2n; // X
      for (let i = 0; i < k; i++) x = polyMod(clmul(x, x), F);
      return x;
    };
    assert.equal(frobenius(208), 2n);
    assert.equal(polyGcd(F, frobenius(104) ^ 2n), 1n);
    assert.equal(polyGcd(F, frobenius(16) ^ 2n), 1n);
  });

  it('matches a slow BigInt reference on random and edge inputs', () => {
    const edges = [zero, one, fromBig(1n << 207n), fromBig((1n << 208n) - 1n), fromBig(2n), fromBig(0x20bn)];
    const inputs = [...edges, ...Array.from({ length: 40 }, () => rng(GF208_BYTES))];
    for (const a of inputs) {
      for (const b of inputs.slice(0, 12)) assert.deepEqual(gfMul(a, b), refMul(a, b));
    }
    // X^207 · X = X^208 = X^9 + X^3 + X + 1
    assert.deepEqual(gfMul(fromBig(1n << 207n), fromBig(2n)), fromBig(0x20bn));
  });

  it('is a field: commutative, associative, distributive, 1 is neutral, a^(2^208) = a', () => {
    for (let i = 0; i < 20; i++) {
      const [a, b, c] = [rng(GF208_BYTES), rng(GF208_BYTES), rng(GF208_BYTES)];
      assert.deepEqual(gfMul(a, b), gfMul(b, a));
      assert.deepEqual(gfMul(gfMul(a, b), c), gfMul(a, gfMul(b, c)));
      assert.deepEqual(gfMul(a, xor(b, c)), xor(gfMul(a, b), gfMul(a, c)));
      assert.deepEqual(gfMul(a, one), a);
      assert.deepEqual(gfMul(a, zero), zero);
    }
    const a = rng(GF208_BYTES);
    let x = a;
    for (let i = 0; i < 208; i++) x = gfMul(x, x);
    assert.deepEqual(x, a);
  });

  it('accumulates a·b into a word accumulator, reading a at an offset', () => {
    const a = rng(GF208_BYTES), b = rng(GF208_BYTES), c = rng(GF208_BYTES);
    const buf = new Uint8Array(40);
    buf.set(a, 7);
    const acc = gfLoad(c);
    gfMulAcc(gfMultiplier(b), buf, 7, acc);
    assert.deepEqual(gfStore(acc), xor(c, refMul(a, b)));
    assert.equal(acc.length, GF208_WORDS);
  });

  it('round-trips the byte encoding through words', () => {
    const a = rng(GF208_BYTES);
    assert.deepEqual(gfStore(gfLoad(a)), a);
    const out = new Uint8Array(30);
    gfStore(gfLoad(a), out, 4);
    assert.deepEqual(out.subarray(4), a);
  });

  it('refuses elements of the wrong size', () => {
    assert.throws(() => gfMul(new Uint8Array(25), one), RangeError);
    assert.throws(() => gfMultiplier(new Uint8Array(27)), RangeError);
  });
});
