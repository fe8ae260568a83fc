import { ValidationError } from './errors.ts';

/**
 * Canonical JSON (RFC 8785 subset): object keys sorted by UTF-16 code units, no whitespace,
 * integers only (no floats: amounts are decimal strings), no undefined. Used wherever bytes are
 * signed or hashed, so two parties serialising the same value get the same bytes.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Nesting deeper than this is refused: protocol values are shallow, and deep input from an
 * untrusted peer must not exhaust the stack. */
export const MAX_DEPTH = 32;

export function canonicalJson(value: unknown): string {
  return encode(value, '$', 0);
}

function encode(v: unknown, path: string, depth: number): string {
  if (depth > MAX_DEPTH) throw new ValidationError(`value is nested deeper than ${MAX_DEPTH} levels`, { code: 'encoding.too_deep' });
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean': return v ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(v)) throw new ValidationError(`canonical JSON allows only safe integers (at ${path})`, { code: 'encoding.non_canonical' });
      return String(v);
    case 'string': return JSON.stringify(v);
    case 'object': {
      if (Array.isArray(v)) return '[' + v.map((x, i) => encode(x, `${path}[${i}]`, depth + 1)).join(',') + ']';
      if (v instanceof Uint8Array) throw new ValidationError(`bytes must be hex-encoded before canonical JSON (at ${path})`, { code: 'encoding.non_canonical' });
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
      return '{' + keys.map((k) => JSON.stringify(k) + ':' + encode(obj[k], `${path}.${k}`, depth + 1)).join(',') + '}';
    }
    default:
      throw new ValidationError(`value of type ${typeof v} cannot be canonical JSON (at ${path})`, { code: 'encoding.non_canonical' });
  }
}

export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}
