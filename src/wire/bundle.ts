import { sha256 } from '@noble/hashes/sha2.js';
import { canonicalBytes } from '../common/canonical-json.ts';
import { concatBytes, toHex, utf8 } from '../common/bytes.ts';
import { AuthenticationError, ValidationError, type ErrorDetail } from '../common/errors.ts';
import { CborDecodeFailure, decodeCbor, encodeCbor, type CborValue } from './bundle-cbor.ts';
import { verifyIdentitySignature, type IdentitySigner } from './envelope.ts';
import { isCanonicalTime, parseTimeAttestation, verifyTimeAttestations, WIRE_ID_RE, type TimeAttestation, type TrustedTime } from './time-attestation.ts';

/**
 * A bundle: everything that crosses the air gap in one file or one animated QR sequence (DKG
 * rounds, presignature and nonce staging, sign batches with their requests, approvals and policy
 * versions, and the offline node's answers), signed by its sender's identity key and addressed
 * to one recipient. Node, coordinator and offline CLI share this codec.
 *
 * Bytes: a CBOR array `[body, sig]` (RFC 8949, core deterministic encoding, §4.2.1):
 * - `body` is a byte string holding the deterministic CBOR map of every field but `sig`, `count`
 *   (the number of items) included;
 * - `sig` is ECDSA P-256 (low-s, r||s) by the sender over bundleSigningBytes(body), a
 *   domain-separated SHA-256 of exactly those bytes, so the signer (an HSM) sees ~100 bytes, not
 *   megabytes, and what was signed is what was received, byte for byte.
 * CBOR with definite lengths is self-delimiting, so a cut anywhere fails to decode (`truncated`);
 * a bundle whose signed `count` disagrees with its items is refused as truncated too.
 *
 * Each (sender, recipient) pair is a stream numbered from 1; the receiver accepts exactly the
 * next number, so a replayed, dropped or reordered bundle is named. The receiver must record
 * `seq` durably together with the effects of processing the bundle.
 *
 * Bundles never carry a secret in clear: callers put in only envelopes (whose secret-bearing
 * payloads are already encrypted to their recipient), signed requests, approvals, policy
 * versions, attestations and other public data. Nothing here inspects items for secrets.
 */
export type BundleKind = 'dkg' | 'stage' | 'sign' | 'answer' | 'policy';
export const BUNDLE_KINDS: readonly BundleKind[] = ['dkg', 'stage', 'sign', 'answer', 'policy'];

export type Bundle = {
  v: 1;
  /** The genesis hash (hex) of the cluster. */
  cluster: string;
  from: string;
  to: string;
  /** Position in the (from, to) stream, from 1. */
  seq: number;
  kind: BundleKind;
  sessions: string[];
  /** The sender's clock, for humans: never trusted for time rules (see timeAttestations). */
  createdAt: string;
  /** Plain data (see CborValue): envelopes, signed requests, approvals, policy versions… */
  items: unknown[];
  /** Online nodes' clocks for the offline recipient; see time-attestation.ts. */
  timeAttestations?: TimeAttestation[];
  sig: Uint8Array;
};

/** What a sender decides: the bundle without version, attestations and signature. */
export type BundleContent = Omit<Bundle, 'v' | 'timeAttestations' | 'sig'>;
export type BundleDraft = BundleContent & { timeAttestations?: TimeAttestation[] };

/**
 * Larger bundles are refused before decoding. A 1,000-transaction sign batch is about 1.3 MB; the
 * largest bundles are DKLs23 staging rounds, about 54 KB per presignature and pair in the largest
 * crossing, so 256 MiB carries the 2,000 presignatures one staging request may ask for (and its
 * base64 still fits a JavaScript string over REST).
 */
export const MAX_BUNDLE_BYTES = 256 * 1024 * 1024;

const SIGN_DOMAIN = 'custos/bundle/v1';
const CONTENT_DOMAIN = utf8('custos/bundle-content/v1\0');
const CLUSTER_RE = /^[0-9a-f]{64}$/;
const REQUIRED = ['v', 'cluster', 'from', 'to', 'seq', 'kind', 'sessions', 'createdAt', 'count', 'items'];
const KNOWN = new Set([...REQUIRED, 'timeAttestations']);

/** The message the sender's identity key signs for a body (the signer hashes it again). */
export function bundleSigningBytes(body: Uint8Array): Uint8Array {
  return canonicalBytes({ domain: SIGN_DOMAIN, body: toHex(sha256(body)) });
}

/**
 * The digest online nodes attest time for: SHA-256 over a domain tag and the deterministic CBOR
 * of the body without attestations. It covers cluster, stream, sequence number and items, so an
 * attestation serves one bundle only. Attestations are gathered after the content is fixed and
 * before the bundle is sealed.
 */
export function bundleContentDigest(c: BundleContent): Uint8Array {
  return sha256(concatBytes(CONTENT_DOMAIN, encodeCbor(bodyMap(c, undefined))));
}

function bodyMap(c: BundleContent, atts: readonly TimeAttestation[] | undefined): { [k: string]: CborValue } {
  const m: { [k: string]: CborValue } = { v: 1, cluster: c.cluster, from: c.from, to: c.to, seq: c.seq, kind: c.kind, sessions: c.sessions, createdAt: c.createdAt, count: c.items.length, items: c.items as CborValue[] };
  if (atts !== undefined && atts.length > 0) m.timeAttestations = atts.map((a) => ({ node: a.node, time: a.time, bundle: a.bundle, sig: a.sig }));
  return m;
}

/**
 * Encodes and signs a bundle. Refuses what openBundle would refuse (bad header fields, data
 * outside the CBOR profile, attestations for other content, oversize), so a sender finds out
 * before the bundle crosses. `sign` is the sender's identity signer (ECDSA P-256 over SHA-256).
 */
export function sealBundle(d: BundleDraft, sign: IdentitySigner, opts: { maxBytes?: number } = {}): Uint8Array {
  const max = opts.maxBytes ?? MAX_BUNDLE_BYTES;
  const fields = { v: 1, cluster: d.cluster, from: d.from, to: d.to, seq: d.seq, kind: d.kind, sessions: d.sessions, createdAt: d.createdAt, count: Array.isArray(d.items) ? d.items.length : undefined, items: d.items };
  checkHeader(fields, (m) => new ValidationError(`cannot seal bundle: ${m}`, { code: 'bundle.malformed' }));
  const atts = (d.timeAttestations ?? []).map((a, i) => parseTimeAttestation(a, `cannot seal bundle: time attestation ${i}`));
  if (atts.length > 0) {
    const digest = toHex(bundleContentDigest(d));
    const stray = atts.find((a) => toHex(a.bundle) !== digest);
    if (stray) throw new ValidationError(`cannot seal bundle ${d.seq} from ${d.from} to ${d.to}: the time attestation by ${stray.node} is for other content (attest after the items are final)`, { code: 'bundle.attestation_mismatch' });
  }
  const body = encodeCbor(bodyMap(d, atts));
  const sig = sign(bundleSigningBytes(body));
  if (!(sig instanceof Uint8Array) || sig.length !== 64) throw new ValidationError('the identity signer must return a 64-byte r||s signature', { code: 'bundle.bad_signer' });
  const out = encodeCbor([body, sig]);
  if (out.length > max) throw tooLarge(out.length, max, `bundle ${d.seq} from ${d.from} to ${d.to}`);
  return out;
}

export type OpenOptions = {
  /** This cluster's genesis hash. */
  cluster: string;
  /** The receiving party's id. */
  self: string;
  /** Identity keys (33-byte compressed P-256) of every party that may send bundles. */
  identityKeys: Record<string, Uint8Array>;
  /** The last seq accepted from `from` to self, 0 if none. */
  lastSeq: (from: string) => number;
  maxBytes?: number;
};

/**
 * Decodes and checks a bundle from an untrusted carrier, in this order: size, CBOR form and
 * exact structure (`bundle.too_large`, `bundle.truncated`, `bundle.malformed`,
 * `bundle.wrong_version`), cluster, recipient and sender (`bundle.wrong_cluster`,
 * `bundle.misaddressed`, `bundle.unknown_sender`), signature (`bundle.bad_signature`), item count
 * (`bundle.truncated`), then the stream position (`bundle.replayed`, `bundle.out_of_order`), so
 * a seq is only reported once it is authentic. Does not record the seq: the caller does, once the
 * bundle is processed. Time attestations are only checked for form here; see bundleTime().
 */
export function openBundle(bytes: Uint8Array, o: OpenOptions): Bundle {
  const max = o.maxBytes ?? MAX_BUNDLE_BYTES;
  if (!(bytes instanceof Uint8Array)) throw malformed('a bundle is bytes');
  if (bytes.length > max) throw tooLarge(bytes.length, max, 'bundle');
  // decodeCbor copies every byte string: what is verified and returned is ours, and cannot
  // change under us if the caller reuses its buffer.
  const outer = decode(bytes, 'bundle');
  if (!Array.isArray(outer) || outer.length !== 2 || !(outer[0] instanceof Uint8Array) || !(outer[1] instanceof Uint8Array)) throw malformed('bundle must be the CBOR array [body bytes, signature bytes]');
  const [bodyBytes, sig] = outer;
  const body = decode(bodyBytes, 'bundle body');
  if (typeof body !== 'object' || body === null || Array.isArray(body) || body instanceof Uint8Array) throw malformed('bundle body must be a CBOR map');
  if (!('v' in body)) throw malformed('bundle body has no version (v)');
  if (body.v !== 1) throw new ValidationError(`bundle version ${JSON.stringify(body.v)} is not supported (this node reads version 1)`, { code: 'bundle.wrong_version' });
  const h = checkHeader(body, (m) => malformed(`bundle: ${m}`));
  if (sig.length !== 64) throw malformed(`${h.name}: signature must be 64 bytes`);
  const atts = body.timeAttestations === undefined ? undefined : checkAttestations(body.timeAttestations, h.name);
  const detail: ErrorDetail = { from: h.from, to: h.to, seq: h.seq };

  if (h.cluster !== o.cluster) throw new AuthenticationError('bundle.wrong_cluster', `${h.name} belongs to another cluster (${h.cluster.slice(0, 16)}…, this is ${o.cluster.slice(0, 16)}…)`, undefined, detail);
  if (h.to !== o.self) throw new AuthenticationError('bundle.misaddressed', `${h.name} is addressed to ${h.to}, not to ${o.self}`, undefined, detail);
  if (!Object.hasOwn(o.identityKeys, h.from)) throw new AuthenticationError('bundle.unknown_sender', `${h.name} claims to come from ${h.from}, which is not a party of this cluster's genesis`, undefined, detail);
  if (!verifyIdentitySignature(o.identityKeys[h.from], bundleSigningBytes(bodyBytes), toHex(sig))) {
    throw new AuthenticationError('bundle.bad_signature', `${h.name} does not carry a valid signature by ${h.from}: it was altered or forged`, undefined, detail);
  }
  // Authentic but inconsistent: the sender signed a bundle short of what it declared.
  if (h.count !== h.items.length) throw new AuthenticationError('bundle.truncated', `${h.name} declares ${h.count} items but carries ${h.items.length}`, h.from, { ...detail, declared: h.count, carried: h.items.length });

  const last = o.lastSeq(h.from);
  if (!Number.isSafeInteger(last) || last < 0) throw new ValidationError(`lastSeq(${h.from}) must be an integer >= 0`, { code: 'bundle.bad_options' });
  if (h.seq <= last) throw new AuthenticationError('bundle.replayed', `${h.name} was already received (the last accepted from ${h.from} is ${last}): a replayed bundle`, undefined, { ...detail, last });
  if (h.seq > last + 1) {
    const missing = h.seq === last + 2 ? `bundle ${last + 1} is` : `bundles ${last + 1} to ${h.seq - 1} are`;
    throw new AuthenticationError('bundle.out_of_order', `${h.name} is out of order: expected bundle ${last + 1} from ${h.from} next (${missing} missing)`, undefined, { ...detail, expected: last + 1 });
  }
  const out: Bundle = { v: 1, cluster: h.cluster, from: h.from, to: h.to, seq: h.seq, kind: h.kind, sessions: h.sessions, createdAt: h.createdAt, items: h.items, sig };
  if (atts !== undefined) {
    out.timeAttestations = atts;
    contentDigests.set(out, bundleContentDigest(out));
  }
  return out;
}

/** Content digests of opened bundles, computed at open time from what was verified. */
const contentDigests = new WeakMap<Bundle, Uint8Array>();

/**
 * The trusted time of an opened bundle for its (offline) recipient: its attestations must all be
 * valid, at least `minCount` of them from `identityKeys` (the online nodes), within
 * `maxSkewSeconds` of each other. Throws `time.unattested` when the bundle has too few, so
 * time-based rules are refused rather than run on the sender's createdAt.
 */
export function bundleTime(b: Bundle, o: { identityKeys: Record<string, Uint8Array>; minCount: number; maxSkewSeconds: number }): TrustedTime {
  const digest = contentDigests.get(b) ?? bundleContentDigest(b);
  return verifyTimeAttestations(b.timeAttestations ?? [], { cluster: b.cluster, recipient: b.to, from: b.from, bundle: digest, identityKeys: o.identityKeys, minCount: o.minCount, maxSkewSeconds: o.maxSkewSeconds });
}

type Header = { cluster: string; from: string; to: string; seq: number; kind: BundleKind; sessions: string[]; createdAt: string; count: number; items: unknown[]; name: string };

/** Exact structure of a body (or a draft): every field present, typed, nothing unknown. */
function checkHeader(b: Record<string, unknown>, fail: (m: string) => Error): Header {
  const keys = Object.keys(b).filter((k) => b[k] !== undefined);
  const unknown = keys.filter((k) => !KNOWN.has(k));
  if (unknown.length > 0) throw fail(`unknown field(s) ${unknown.join(', ')}`);
  const missing = REQUIRED.filter((k) => !keys.includes(k));
  if (missing.length > 0) throw fail(`missing field(s) ${missing.join(', ')}`);
  if (typeof b.cluster !== 'string' || !CLUSTER_RE.test(b.cluster)) throw fail('cluster must be a genesis hash (64 lowercase hex digits)');
  for (const k of ['from', 'to'] as const) {
    if (typeof b[k] !== 'string' || !WIRE_ID_RE.test(b[k] as string)) throw fail(`${k} must be an id of 1 to 256 printable ASCII characters`);
  }
  if (!Number.isSafeInteger(b.seq) || (b.seq as number) < 1) throw fail('seq must be an integer >= 1');
  const name = `bundle ${b.seq} from ${b.from} to ${b.to}`;
  if (b.from === b.to) throw fail(`${name}: sender and recipient are the same party`);
  if (!BUNDLE_KINDS.includes(b.kind as BundleKind)) throw fail(`${name}: kind must be one of ${BUNDLE_KINDS.join(', ')}`);
  if (!Array.isArray(b.sessions) || !b.sessions.every((s) => typeof s === 'string' && WIRE_ID_RE.test(s))) throw fail(`${name}: sessions must be a list of ids of 1 to 256 printable ASCII characters`);
  if (new Set(b.sessions).size !== b.sessions.length) throw fail(`${name}: sessions lists a session twice`);
  if (!isCanonicalTime(b.createdAt)) throw fail(`${name}: createdAt must be an ISO 8601 UTC time with milliseconds`);
  if (!Array.isArray(b.items)) throw fail(`${name}: items must be a list`);
  if (!Number.isSafeInteger(b.count) || (b.count as number) < 0) throw fail(`${name}: count must be an integer >= 0`);
  return { cluster: b.cluster, from: b.from as string, to: b.to as string, seq: b.seq as number, kind: b.kind as BundleKind, sessions: b.sessions, createdAt: b.createdAt, count: b.count as number, items: b.items, name };
}

function checkAttestations(x: unknown, name: string): TimeAttestation[] {
  // Present means non-empty: sealBundle omits an empty list, so there is one encoding.
  if (!Array.isArray(x) || x.length === 0) throw malformed(`${name}: timeAttestations, when present, must be a non-empty list`);
  try {
    return x.map((a, i) => parseTimeAttestation(a, `${name}: time attestation ${i}`));
  } catch (e) {
    throw malformed(e instanceof Error ? e.message : String(e));
  }
}

function decode(bytes: Uint8Array, what: string): CborValue {
  try {
    return decodeCbor(bytes);
  } catch (e) {
    if (e instanceof CborDecodeFailure && e.failure === 'truncated') throw new ValidationError(`${what} is truncated: ${e.message}`, { code: 'bundle.truncated' });
    throw malformed(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function malformed(m: string): ValidationError {
  return new ValidationError(m, { code: 'bundle.malformed' });
}

function tooLarge(size: number, max: number, what: string): ValidationError {
  return new ValidationError(`${what} is ${size} bytes, more than the ${max} bytes allowed: split the batch`, { code: 'bundle.too_large', status: 413, detail: { size, max } });
}
