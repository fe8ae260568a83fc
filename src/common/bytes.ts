import { timingSafeEqual } from 'node:crypto';
import { ValidationError } from './errors.ts';

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Strict hex decoding: even length, hex digits only; `what` names the field in the error. */
export function fromHex(s: string, what = 'hex', expectedLength?: number): Uint8Array {
  if (typeof s !== 'string' || !HEX_RE.test(s)) throw new ValidationError(`${what} must be an even-length hex string`, { code: 'encoding.bad_hex', detail: { field: what } });
  const out = new Uint8Array(Buffer.from(s, 'hex'));
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new ValidationError(`${what} must be ${expectedLength} bytes, got ${out.length}`, { code: 'encoding.bad_length', detail: { field: what } });
  }
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const len = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}

/** Best-effort erasure of secret bytes (JS cannot guarantee copies are gone). */
export function wipe(...bufs: (Uint8Array | undefined)[]): void {
  for (const b of bufs) b?.fill(0);
}
