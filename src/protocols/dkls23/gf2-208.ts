/**
 * The binary field GF(2^208) = GF(2)[X] / (X^208 + X^9 + X^3 + X + 1) of the OT-extension
 * consistency check: KOS15 corrected, Fig. 10 (ePrint 2015/546), checks in GF(2^(κ+s)) with
 * κ + s = 128 + 80 = 208. The pentanomial is the one of Hankerson–Menezes–Vanstone Table A.1,
 * also used by 0xCarbon/DKLs23 and coinbase/kryptology, so transcripts can be compared.
 *
 * Encoding: 26 bytes, bit i (the coefficient of X^i) is (bytes[i >> 3] >> (i & 7)) & 1, the same
 * little-endian bit order as the OT-extension columns, so a 208-row slice of a column is a field
 * element as is. Internally an element is 7 little-endian 32-bit words (the top one holds 16 bits).
 *
 * The check multiplies secret data (Bob's t columns and choice bits, Alice's q columns) by public
 * challenges, so multiplication is written without secret-dependent branches or table indices:
 * the public factor is expanded into its 208 shifts, and each bit of the secret factor selects
 * one of them by a mask.
 */

export const GF208_BITS = 208;
export const GF208_BYTES = 26;
/** 32-bit words per element. */
export const GF208_WORDS = 7;

/** X^208 = X^9 + X^3 + X + 1 (mod the field polynomial). */
const REDUCTION = 0x20b;
const TOP_MASK = 0xffff;

/** Loads 26 bytes at `offset` into 7 words. */
export function gfLoad(bytes: Uint8Array, offset = 0, out: Uint32Array = new Uint32Array(GF208_WORDS)): Uint32Array {
  for (let w = 0; w < 6; w++) {
    const o = offset + 4 * w;
    out[w] = bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24);
  }
  out[6] = bytes[offset + 24] | (bytes[offset + 25] << 8);
  return out;
}

/** Stores 7 words as 26 bytes at `offset`. */
export function gfStore(words: Uint32Array, out: Uint8Array = new Uint8Array(GF208_BYTES), offset = 0): Uint8Array {
  for (let i = 0; i < GF208_BYTES; i++) out[offset + i] = words[i >> 2] >>> ((i & 3) << 3);
  return out;
}

/** w <- w * X, in place, without branching on the carried-out bit. */
function mulX(w: Uint32Array): void {
  const carry = (w[6] >>> 15) & 1;
  for (let i = 6; i > 0; i--) w[i] = (w[i] << 1) | (w[i - 1] >>> 31);
  w[0] = (w[0] << 1) ^ (-carry & REDUCTION);
  w[6] &= TOP_MASK;
}

/**
 * A fixed (public) multiplicand b expanded as b·X^i for i = 0..207: 208 x 7 words. Build it once
 * per challenge and multiply many secret elements by it with `gfMulAcc`. Signed words, so that V8
 * keeps every entry a small integer in the inner loop (Uint32 entries above 2^31 become doubles).
 */
export type GfMultiplier = Int32Array;

export function gfMultiplier(b: Uint8Array): GfMultiplier {
  if (b.length !== GF208_BYTES) throw new RangeError('GF(2^208) elements are 26 bytes');
  const out = new Int32Array(GF208_BITS * GF208_WORDS);
  const cur = gfLoad(b);
  for (let i = 0; i < GF208_BITS; i++) {
    out.set(cur, i * GF208_WORDS);
    mulX(cur);
  }
  return out;
}

/** acc ^= a · b, with a the 26 bytes of `bytes` at `offset` and b the multiplier's element. */
export function gfMulAcc(b: GfMultiplier, bytes: Uint8Array, offset: number, acc: Uint32Array): void {
  let a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5], a6 = acc[6];
  for (let byte = 0, p = 0; byte < GF208_BYTES; byte++) {
    let v = bytes[offset + byte];
    for (let bit = 0; bit < 8; bit++, p += GF208_WORDS, v >>>= 1) {
      const m = -(v & 1);
      a0 ^= m & b[p]; a1 ^= m & b[p + 1]; a2 ^= m & b[p + 2]; a3 ^= m & b[p + 3];
      a4 ^= m & b[p + 4]; a5 ^= m & b[p + 5]; a6 ^= m & b[p + 6];
    }
  }
  acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; acc[4] = a4; acc[5] = a5; acc[6] = a6;
}

/** a · b for two encoded elements (26 bytes each). */
export function gfMul(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length !== GF208_BYTES) throw new RangeError('GF(2^208) elements are 26 bytes');
  const acc = new Uint32Array(GF208_WORDS);
  gfMulAcc(gfMultiplier(b), a, 0, acc);
  return gfStore(acc);
}
