import { ValidationError } from '../common/errors.ts';

/**
 * What a coordinator bundle carries to the offline node, and what the answer carries back: the
 * same calls an online node serves over HTTP (DKG rounds, presigning rounds, FROST nonces, sign
 * calls with their signed requests and approvals, policy versions), each with an id the answer
 * echoes. The offline node serves them with the very routes and schemas of an online node, from
 * an allowlist, without listening anywhere.
 */
export type AirgapCall = { id: string; method: 'GET' | 'POST'; path: string; body?: unknown };
export type AirgapAnswer = { id: string; status: number; body: unknown };

const ID_RE = /^[A-Za-z0-9._:-]{1,100}$/;
const PATH_RE = /^\/v1\/[A-Za-z0-9/._:-]{1,300}$/;

export function parseCall(x: unknown, i: number): AirgapCall {
  const bad = (m: string) => new ValidationError(`bundle item ${i}: ${m}`, { code: 'bundle.bad_item' });
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw bad('must be a map');
  const c = x as Record<string, unknown>;
  const extra = Object.keys(c).filter((k) => !['id', 'method', 'path', 'body'].includes(k));
  if (extra.length) throw bad(`unknown field(s) ${extra.join(', ')}`);
  if (typeof c.id !== 'string' || !ID_RE.test(c.id)) throw bad('id must be 1..100 characters of [A-Za-z0-9._:-]');
  if (c.method !== 'GET' && c.method !== 'POST') throw bad('method must be GET or POST');
  if (typeof c.path !== 'string' || !PATH_RE.test(c.path)) throw bad('path must be a /v1/ path');
  if (c.method === 'GET' && c.body !== undefined) throw bad('a GET carries no body');
  return { id: c.id, method: c.method, path: c.path, ...(c.body === undefined ? {} : { body: c.body }) };
}

export function parseAnswer(x: unknown, i: number): AirgapAnswer {
  const bad = (m: string) => new ValidationError(`answer item ${i}: ${m}`, { code: 'bundle.bad_item' });
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw bad('must be a map');
  const a = x as Record<string, unknown>;
  if (Object.keys(a).sort().join(',') !== 'body,id,status') throw bad('must have exactly the fields id, status, body');
  if (typeof a.id !== 'string' || !ID_RE.test(a.id)) throw bad('id must be 1..100 characters of [A-Za-z0-9._:-]');
  if (!Number.isInteger(a.status) || (a.status as number) < 100 || (a.status as number) > 599) throw bad('status must be an HTTP status');
  return { id: a.id, status: a.status as number, body: a.body };
}

/** Plain data for CBOR: what JSON would carry (no undefined, no class instances). */
export function plain<T>(x: T): T {
  return x === undefined ? x : JSON.parse(JSON.stringify(x));
}

const HEX_RE = /^(?:[0-9a-f]{2})+$/;

/**
 * Bundles carry JSON-shaped data, where keys, shares' ciphertexts and protocol messages are
 * lowercase hex strings: half their weight is the hex. `packHex` turns every lowercase, even-length
 * hex string into a CBOR byte string and `unpackHex` turns every byte string back into lowercase
 * hex. JSON-shaped data holds no byte strings, so the round trip is exact; it halves what a
 * DKLs23 staging bundle carries (each presignature moves about 135 KB per pair instead of 270).
 */
export function packHex(x: unknown): unknown {
  if (typeof x === 'string') return HEX_RE.test(x) ? Uint8Array.from(Buffer.from(x, 'hex')) : x;
  if (Array.isArray(x)) return x.map(packHex);
  if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, packHex(v)]));
  return x;
}

export function unpackHex(x: unknown): unknown {
  if (x instanceof Uint8Array) return Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex');
  if (Array.isArray(x)) return x.map(unpackHex);
  if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, unpackHex(v)]));
  return x;
}
