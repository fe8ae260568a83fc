import { sha256 } from '@noble/hashes/sha2.js';

/** Deterministic bytes and floats from a seed (SHA-256 in counter mode), for repeatable loss patterns. */
export function seeded(seed: string) {
  let counter = 0;
  const block = () => sha256(new TextEncoder().encode(`${seed}/${counter++}`));
  return {
    bytes(n: number): Uint8Array {
      const out = new Uint8Array(n);
      for (let o = 0; o < n; o += 32) out.set(block().subarray(0, Math.min(32, n - o)), o);
      return out;
    },
    float(): number {
      const b = block();
      return (b[0] * 2 ** 24 + b[1] * 2 ** 16 + b[2] * 2 ** 8 + b[3]) / 2 ** 32;
    },
  };
}

/** A Fisher-Yates shuffle driven by `rnd`. */
export function shuffled<T>(items: T[], rnd: () => number): T[] {
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
