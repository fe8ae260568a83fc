import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, u32be, utf8 } from '../../src/common/bytes.ts';
import type { Rng } from '../../src/crypto/random.ts';

/** Deterministic test randomness: SHA-256(seed || counter) blocks. Tests only. */
export function seededRng(seed: string): Rng {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let o = 0; o < n; o += 32) out.set(sha256(concatBytes(utf8(seed), u32be(counter++))).subarray(0, Math.min(32, n - o)), o);
    return out;
  };
}
