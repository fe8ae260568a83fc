import { canonicalBytes } from '../common/canonical-json.ts';
import { equalBytes, toHex } from '../common/bytes.ts';
import { AuthenticationError, ValidationError } from '../common/errors.ts';
import { verifyIdentitySignature, type IdentitySigner } from './envelope.ts';

/**
 * An online node's signed statement of its clock's time, for one bundle. The offline node has no
 * trusted clock: timelocks and expiries it enforces run on time attested by online nodes inside
 * the bundle that asks for the signature, and are refused without enough attestations.
 *
 * `bundle` is the bundle's content digest (bundleContentDigest in bundle.ts: cluster, sender,
 * recipient, sequence number, sessions and items). Binding to it means an attestation is good for
 * exactly one bundle: it cannot be stockpiled for later bundles (an old time would keep expired
 * approvals alive) nor redirected to another recipient or stream, and the receiver accepts each
 * (sender, recipient, seq) once.
 */
export type TimeAttestation = {
  node: string;
  /** ISO 8601 UTC with milliseconds, as Date.prototype.toISOString writes it. */
  time: string;
  /** The content digest of the bundle this time is attested for (32 bytes). */
  bundle: Uint8Array;
  /** ECDSA P-256 (low-s, r||s) by the node's identity key over attestationBytes(). */
  sig: Uint8Array;
};

/**
 * The time an offline node may use, from at least `minCount` attestations:
 * - `earliest`: the earliest attested time. Use it where a time too late is the danger: the "now"
 *   that decides whether a timelock has run out. An honest node attests a time no later than the
 *   real one (time only moves on while the bundle crosses), so one honest attester caps it.
 * - `latest`: the latest attested time. Use it where a time too early is the danger: the "now"
 *   that decides whether something has expired. An old time cannot be replayed (the attestation
 *   is bound to this bundle), so one honest attester lifts it to the bundle's preparation.
 * A lying attester can then only delay a timelock or expire something early (fail closed), never
 * the reverse; the median would need an honest majority for the same guarantee. No attested time
 * covers the hours a bundle may wait before it crosses: that is the air gap's own latency.
 */
export type TrustedTime = { earliest: Date; latest: Date; attestedBy: string[] };

const DOMAIN = 'custos/time-attestation/v1';
const ISO_MS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** Printable ASCII without spaces: ids end up in error messages and logs. */
export const WIRE_ID_RE = /^[\x21-\x7e]{1,256}$/;

/** The bytes an online node signs (hashed by the signer, ECDSA over SHA-256). */
export function attestationBytes(cluster: string, node: string, time: string, bundle: Uint8Array): Uint8Array {
  return canonicalBytes({ domain: DOMAIN, cluster, node, time, bundle: toHex(bundle) });
}

/** An online node attests its own clock's time for the bundle with content digest `bundle`. */
export function attestTime(at: { cluster: string; node: string; bundle: Uint8Array }, sign: IdentitySigner, now: Date = new Date()): TimeAttestation {
  if (at.bundle.length !== 32) throw new ValidationError('a time attestation is for a 32-byte bundle content digest', { code: 'time.malformed' });
  const time = now.toISOString();
  return { node: at.node, time, bundle: new Uint8Array(at.bundle), sig: sign(attestationBytes(at.cluster, at.node, time, at.bundle)) };
}

/** Whether `s` is a time in the one form attestations and bundles carry (toISOString's). */
export function isCanonicalTime(s: unknown): s is string {
  if (typeof s !== 'string' || !ISO_MS_RE.test(s)) return false;
  const t = Date.parse(s);
  return !Number.isNaN(t) && new Date(t).toISOString() === s;
}

/** Structural check of one attestation from an untrusted source; exact fields only. */
export function parseTimeAttestation(x: unknown, what = 'time attestation'): TimeAttestation {
  const bad = (m: string) => new ValidationError(`${what}: ${m}`, { code: 'time.malformed' });
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw bad('must be a map');
  const a = x as Record<string, unknown>;
  const keys = Object.keys(a).sort();
  if (keys.join(',') !== 'bundle,node,sig,time') throw bad(`must have exactly the fields bundle, node, sig, time (has ${keys.join(', ') || 'none'})`);
  if (typeof a.node !== 'string' || !WIRE_ID_RE.test(a.node)) throw bad('node must be an id of 1 to 256 printable ASCII characters');
  if (!isCanonicalTime(a.time)) throw bad('time must be an ISO 8601 UTC time with milliseconds (YYYY-MM-DDTHH:MM:SS.sssZ)');
  if (!(a.bundle instanceof Uint8Array) || a.bundle.length !== 32) throw bad('bundle must be 32 bytes');
  if (!(a.sig instanceof Uint8Array) || a.sig.length !== 64) throw bad('sig must be 64 bytes');
  return { node: a.node, time: a.time, bundle: a.bundle, sig: a.sig };
}

export type TimeCheck = {
  cluster: string;
  /** Identity keys of the nodes whose clocks are trusted: online nodes of the genesis. */
  identityKeys: Record<string, Uint8Array>;
  /** The node using the time (the bundle's recipient): it has no clock, so it cannot attest. */
  recipient: string;
  /** Content digest of the bundle the attestations arrived in. */
  bundle: Uint8Array;
  /** Who put the attestations in front of us (the bundle's sender): blamed for a bad one. */
  from?: string;
  /** Distinct attesting nodes required (>= 1). */
  minCount: number;
  /** Largest spread allowed between the earliest and the latest attested time. */
  maxSkewSeconds: number;
};

/**
 * Verifies every attestation and returns the trusted time. Fails closed and loud: one bad
 * attestation (unknown node, another bundle, forged, duplicated, by the recipient itself) throws
 * naming the node, rather than being skipped, because a forged clock in a signed bundle is an
 * attack to report, not noise; a spread beyond `maxSkewSeconds` means a wrong clock or a held-back
 * attestation and throws `time.skew`; fewer than `minCount` throws `time.unattested`.
 */
export function verifyTimeAttestations(list: readonly unknown[] | undefined, c: TimeCheck): TrustedTime {
  if (!Number.isInteger(c.minCount) || c.minCount < 1) throw new ValidationError('minCount must be an integer >= 1: time-based rules need at least one attested time', { code: 'time.bad_options' });
  if (!Number.isFinite(c.maxSkewSeconds) || c.maxSkewSeconds < 0) throw new ValidationError('maxSkewSeconds must be a number >= 0', { code: 'time.bad_options' });
  const blame = c.from;
  const seen = new Set<string>();
  const times: { node: string; t: number }[] = [];
  for (const [i, raw] of (list ?? []).entries()) {
    const a = parseTimeAttestation(raw, `time attestation ${i}`);
    const d = { node: a.node };
    if (a.node === c.recipient) throw new AuthenticationError('time.self_attested', `time attestation by ${a.node}, the recipient itself: a node without a trusted clock cannot attest time`, blame, d);
    if (!Object.hasOwn(c.identityKeys, a.node)) throw new AuthenticationError('time.unknown_node', `time attestation by ${JSON.stringify(a.node)}, which is not a node trusted to attest time`, blame, d);
    if (seen.has(a.node)) throw new AuthenticationError('time.duplicate', `two time attestations by ${a.node}: each node attests once per bundle`, blame, d);
    if (!equalBytes(a.bundle, c.bundle)) throw new AuthenticationError('time.wrong_bundle', `time attestation by ${a.node} was made for another bundle (another cluster, sender, recipient, sequence number or content): a replayed attestation`, blame, d);
    if (!verifyIdentitySignature(c.identityKeys[a.node], attestationBytes(c.cluster, a.node, a.time, a.bundle), toHex(a.sig))) {
      throw new AuthenticationError('time.bad_signature', `time attestation claimed to be by ${a.node} is not signed by ${a.node}'s identity key for this cluster and bundle: a forged attestation`, blame, d);
    }
    seen.add(a.node);
    times.push({ node: a.node, t: Date.parse(a.time) });
  }
  if (times.length < c.minCount) {
    throw new AuthenticationError('time.unattested', `${c.recipient} has no trusted clock and the bundle carries ${times.length} valid time attestation(s), ${c.minCount} required: time-based rules (timelocks, expiries) are refused without them`, undefined, { have: times.length, need: c.minCount });
  }
  times.sort((x, y) => x.t - y.t);
  const lo = times[0];
  const hi = times[times.length - 1];
  if (hi.t - lo.t > c.maxSkewSeconds * 1000) {
    throw new AuthenticationError('time.skew', `attested times disagree by ${(hi.t - lo.t) / 1000}s (${lo.node}: ${new Date(lo.t).toISOString()}, ${hi.node}: ${new Date(hi.t).toISOString()}), more than the ${c.maxSkewSeconds}s allowed`, undefined, { earliest: lo.node, latest: hi.node });
  }
  return { earliest: new Date(lo.t), latest: new Date(hi.t), attestedBy: times.map((x) => x.node) };
}

/** Whether a timelock that opens at `notBefore` has run out, on the safe side (earliest time). */
export function timelockOpen(t: TrustedTime, notBefore: Date): boolean {
  return t.earliest.getTime() >= notBefore.getTime();
}

/** Whether something valid until `expiresAt` (exclusive) has expired, on the safe side (latest time). */
export function hasExpired(t: TrustedTime, expiresAt: Date): boolean {
  return t.latest.getTime() >= expiresAt.getTime();
}
