import { decode, encode, type DecodeOptions, type EncodeOptions } from 'cbor2';
import { equalBytes } from '../common/bytes.ts';
import { ValidationError } from '../common/errors.ts';

/**
 * The CBOR profile of custos (RFC 8949), used for what crosses the air gap. One data model, the
 * JSON one plus byte strings: null, booleans, safe integers, text, bytes, arrays, and maps with
 * text keys. No floats (amounts are decimal strings, as in canonical JSON), no tags, no
 * undefined, no bigints, no indefinite lengths.
 *
 * Encoding is core deterministic (RFC 8949 §4.2.1, cbor2's `cde`): shortest integer and length
 * forms, definite lengths, map keys sorted bytewise by their encoding. Decoding accepts only
 * that form: it re-encodes what it decoded and requires the same bytes, so a value has exactly
 * one encoding and a signature over bytes is a signature over the value.
 */
export type CborValue = null | boolean | number | string | Uint8Array | CborValue[] | { [k: string]: CborValue };

/** Nesting deeper than this is refused: bundle > items > envelope > payload leaves ample room,
 * and deep input from an untrusted carrier must not exhaust the stack. */
export const MAX_CBOR_DEPTH = 48;

// Not ignoreGlobalTags here: in cbor2 that also drops the encoders of Array and Uint8Array,
// which then come out as maps of indices. toPlain() already leaves nothing a tag could apply to.
const ENCODE: EncodeOptions = { cde: true, rejectFloats: true, rejectUndefined: true, rejectBigInts: true };
const DECODE: DecodeOptions = {
  cde: true, // requirePreferred, rejectStreaming, sorted (and so unique) map keys
  ignoreGlobalTags: true, // a tag decodes to a Tag object, which toPlain() refuses
  rejectFloats: true,
  rejectSimple: true,
  rejectUndefined: true,
  rejectBigInts: true,
  maxDepth: MAX_CBOR_DEPTH + 1,
};

/** Why decoding failed: the input ended inside an item, or it is not a profile value. */
export type CborFailure = 'truncated' | 'malformed';

export class CborDecodeFailure extends ValidationError {
  readonly failure: CborFailure;
  constructor(failure: CborFailure, message: string) {
    super(message, { code: `cbor.${failure}` });
    this.failure = failure;
  }
}

/**
 * A fresh copy of `v` in the data model, or a ValidationError naming the path of the first
 * value outside it. Byte strings become plain Uint8Arrays: cbor2 would write a Buffer through
 * its toJSON ({type, data}), and a copy cannot change under the caller's feet after signing.
 */
export function toPlain(v: unknown, path = '$', depth = 0): CborValue {
  const bad = (what: string) => new ValidationError(`${what} at ${path} cannot cross the air gap (bundles carry null, booleans, safe integers, strings, bytes, arrays and plain objects)`, { code: 'cbor.unsupported', detail: { path } });
  if (depth > MAX_CBOR_DEPTH) throw new ValidationError(`value is nested deeper than ${MAX_CBOR_DEPTH} levels at ${path}`, { code: 'cbor.too_deep', detail: { path } });
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw bad(`number ${v}`);
    return v === 0 ? 0 : v; // -0 is 0
  }
  if (typeof v !== 'object') throw bad(typeof v);
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map((x, i) => toPlain(x, `${path}[${i}]`, depth + 1));
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) throw bad(`a ${(v as object).constructor?.name ?? 'non-plain'} object`);
  const out: { [k: string]: CborValue } = {};
  for (const k of Object.keys(v)) {
    // An own "__proto__" key is legal data but a trap for any consumer that copies with
    // assignment; nothing custos sends needs one.
    if (k === '__proto__') throw bad('the key "__proto__"');
    const x = (v as Record<string, unknown>)[k];
    if (x === undefined) throw bad('undefined');
    Object.defineProperty(out, k, { value: toPlain(x, `${path}.${k}`, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Deterministic encoding of a profile value (checked with toPlain first). */
export function encodeCbor(value: unknown): Uint8Array {
  return encode(toPlain(value), ENCODE);
}

/**
 * Decodes exactly one profile value that fills `bytes`. Throws CborDecodeFailure: `truncated`
 * when the input ends inside an item (CBOR with definite lengths is self-delimiting, so every
 * cut is seen here), `malformed` for anything else, non-deterministic encodings included.
 */
export function decodeCbor(bytes: Uint8Array): CborValue {
  // A plain view so byte strings decode as Uint8Array (a Buffer input yields Buffer slices).
  const input = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (input.length === 0) throw new CborDecodeFailure('truncated', 'empty input');
  let value: unknown;
  try {
    value = decode(input, DECODE);
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    // cbor2 2.3.0 reports a cut as "Unexpected end of stream…" or, when the cut falls inside an
    // integer argument, as DataView's RangeError; the tests cut at every offset to pin this.
    if (e instanceof RangeError || /unexpected end of stream/i.test(m)) throw new CborDecodeFailure('truncated', `input ends inside a CBOR item (${m.slice(0, 120)})`);
    throw new CborDecodeFailure('malformed', `not deterministic CBOR of the custos profile: ${m.slice(0, 160)}`);
  }
  let plain: CborValue;
  try {
    plain = toPlain(value);
  } catch (e) {
    throw new CborDecodeFailure('malformed', e instanceof Error ? e.message : String(e));
  }
  // cbor2's cde decoding already refuses every non-deterministic input we know of; this check
  // makes "one value, one encoding" hold by construction, whatever a cbor2 upgrade accepts.
  if (!equalBytes(encode(plain, ENCODE), input)) throw new CborDecodeFailure('malformed', 'CBOR is not in core deterministic form (RFC 8949 §4.2.1)');
  return plain;
}
