import { createHash } from 'node:crypto';
import { canonicalBytes, canonicalJson, type Json } from '../common/canonical-json.ts';
import { CustosError, ValidationError } from '../common/errors.ts';
import { toHex } from '../common/bytes.ts';
import { verifyIdentitySignature, type IdentitySigner } from './envelope.ts';

/**
 * A tamper-evident audit log: each party's entries form a hash chain (every entry commits to the
 * previous entry's hash and to its own sequence number) and each entry is signed by the party's
 * HSM identity key. Editing an entry breaks its hash or signature; deleting one leaves a gap in
 * the sequence; reordering breaks the links; cutting the tail is caught against an anchor (a
 * (sequence, head hash) pair signed by the party and held by someone else).
 */
export type AuditEntry = {
  v: 1;
  party: string;
  seq: number;
  time: string;
  kind: string;
  data: { [k: string]: Json };
  /** Hash of the previous entry (64 zero digits for the first). */
  prev: string;
  /** SHA-256 of the canonical JSON of every field above. */
  hash: string;
  /** P-256 signature (r||s, low s) by the party's identity key over the hash, hex. */
  sig: string;
};

/** What a party signs to vouch for its log's length: the latest (sequence, head hash). */
export type AuditAnchor = { party: string; seq: number; head: string; sig: string };

export const GENESIS_PREV = '0'.repeat(64);
const ANCHOR_DOMAIN = 'custos/audit-anchor/v1';

export function entryHash(e: Omit<AuditEntry, 'hash' | 'sig'>): string {
  return createHash('sha256').update(canonicalJson({ v: e.v, party: e.party, seq: e.seq, time: e.time, kind: e.kind, data: e.data, prev: e.prev })).digest('hex');
}

function hashBytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** The next entry after `last` (undefined for the first), hashed and signed. */
export function nextEntry(party: string, last: Pick<AuditEntry, 'seq' | 'hash'> | undefined, kind: string, data: { [k: string]: Json }, sign: IdentitySigner, now = new Date()): AuditEntry {
  const body = { v: 1 as const, party, seq: last ? last.seq + 1 : 1, time: now.toISOString(), kind, data, prev: last ? last.hash : GENESIS_PREV };
  const hash = entryHash(body);
  return { ...body, hash, sig: toHex(sign(hashBytes(hash))) };
}

export function anchorBytes(a: Pick<AuditAnchor, 'party' | 'seq' | 'head'>): Uint8Array {
  return canonicalBytes({ domain: ANCHOR_DOMAIN, party: a.party, seq: a.seq, head: a.head });
}

/**
 * An anchor from an untrusted source, if it is well formed and signed by `key` (its party's
 * identity key); undefined otherwise. Callers check that `party` is the one they expect.
 */
export function verifiedAnchor(x: unknown, key: Uint8Array | undefined): AuditAnchor | undefined {
  const a = x as Partial<AuditAnchor> | null | undefined;
  if (!a || typeof a.party !== 'string' || !Number.isSafeInteger(a.seq) || typeof a.head !== 'string' || typeof a.sig !== 'string' || !key) return undefined;
  const anchor = { party: a.party, seq: a.seq!, head: a.head, sig: a.sig };
  return verifyIdentitySignature(key, anchorBytes(anchor), anchor.sig) ? anchor : undefined;
}

export function signAnchor(party: string, head: Pick<AuditEntry, 'seq' | 'hash'>, sign: IdentitySigner): AuditAnchor {
  return { party, seq: head.seq, head: head.hash, sig: toHex(sign(anchorBytes({ party, seq: head.seq, head: head.hash }))) };
}

/** A tampered log: `seq` is the sequence number of the first entry that fails, `problem` what. */
export class AuditTampered extends CustosError {
  constructor(code: string, message: string, detail: { party: string; seq: number; line?: number }) {
    super(code, message, { status: 422, detail });
  }
}

/**
 * Verifies one party's log (entries in file order) against its identity key, and against any
 * anchors it signed: throws AuditTampered naming the first entry that was edited
 * (`audit.edited`), deleted (`audit.missing`), moved (`audit.reordered`), or the point where the
 * tail was cut (`audit.truncated`). Returns the head.
 */
export function verifyAuditLog(party: string, identityKey: Uint8Array, entries: AuditEntry[], anchors: AuditAnchor[] = [], countersigned: Countersignature[] = []): { count: number; head: string; seq: number } {
  let prev = GENESIS_PREV;
  let expected = 1;
  const bySeq = new Map<number, string>();
  entries.forEach((e, i) => {
    const line = i + 1;
    if (!e || typeof e !== 'object' || e.v !== 1 || e.party !== party || !Number.isSafeInteger(e.seq) || typeof e.hash !== 'string' || typeof e.sig !== 'string') {
      throw new AuditTampered('audit.malformed', `line ${line} is not an audit entry of ${party}`, { party, seq: typeof e?.seq === 'number' ? e.seq : -1, line });
    }
    if (e.seq < expected) throw new AuditTampered('audit.reordered', `entry ${e.seq} (line ${line}) comes after entry ${expected - 1}: entries were reordered or duplicated`, { party, seq: e.seq, line });
    if (e.seq > expected) {
      const later = entries.findIndex((x, k) => k > i && x?.seq === expected);
      if (later >= 0) throw new AuditTampered('audit.reordered', `entry ${expected} was moved from line ${line} to line ${later + 1}: entries were reordered`, { party, seq: expected, line });
      throw new AuditTampered('audit.missing', `entry ${expected} is missing (line ${line} holds entry ${e.seq}): entries were deleted`, { party, seq: expected, line });
    }
    if (entryHash(e) !== e.hash || !verifyIdentitySignature(identityKey, hashBytes(e.hash), e.sig)) {
      throw new AuditTampered('audit.edited', `entry ${e.seq} (line ${line}) was edited: its hash or signature does not verify`, { party, seq: e.seq, line });
    }
    if (e.prev !== prev) throw new AuditTampered('audit.reordered', `entry ${e.seq} (line ${line}) does not follow entry ${e.seq - 1}: the chain is broken`, { party, seq: e.seq, line });
    bySeq.set(e.seq, e.hash);
    prev = e.hash;
    expected++;
  });
  const last = expected - 1;
  for (const a of anchors) {
    if (a.party !== party) continue;
    if (!verifyIdentitySignature(identityKey, anchorBytes(a), a.sig)) throw new ValidationError(`an anchor claimed to be by ${party} is not signed by it`, { code: 'audit.bad_anchor' });
    if (a.seq > last) throw new AuditTampered('audit.truncated', `the log ends at entry ${last}, but ${party} signed an anchor for entry ${a.seq}: the tail was cut`, { party, seq: last + 1 });
    if (bySeq.get(a.seq) !== a.head) throw new AuditTampered('audit.edited', `entry ${a.seq} differs from the one ${party} anchored: the log was rewritten from there`, { party, seq: a.seq });
  }
  // Heads a peer recorded in its own (already verified) log: the same checks, the peer's chain vouching.
  for (const c of countersigned) {
    if (c.party !== party) continue;
    if (c.seq > last) throw new AuditTampered('audit.truncated', `the log ends at entry ${last}, but ${c.by} countersigned ${party}'s entry ${c.seq}: the tail was cut`, { party, seq: last + 1 });
    if (bySeq.get(c.seq) !== c.head) throw new AuditTampered('audit.edited', `entry ${c.seq} differs from the one ${c.by} countersigned: the log was rewritten from there`, { party, seq: c.seq });
  }
  return { count: entries.length, head: prev, seq: last };
}

/**
 * A party's signed (sequence, head) as a peer recorded it in its own log: an item of the `peers`
 * list of the peer's entry for a release (share.released).
 */
export type Countersignature = { party: string; seq: number; head: string; by: string };

/**
 * The countersignatures of `party` in a peer's log (verify that log first, with verifyAuditLog).
 * Each carries `party`'s own anchor signature, checked here against `partyKey`: a peer cannot make
 * an honest party's log look tampered by recording a head the party never signed (that peer is
 * named instead).
 */
export function countersignaturesIn(peerEntries: AuditEntry[], party: string, partyKey: Uint8Array): Countersignature[] {
  const out: Countersignature[] = [];
  for (const e of peerEntries) {
    const peers = (e.data as { peers?: unknown }).peers;
    if (!Array.isArray(peers)) continue;
    for (const p of peers as Partial<AuditAnchor>[]) {
      if (p?.party !== party) continue;
      const a = verifiedAnchor(p, partyKey);
      if (!a) throw new ValidationError(`${e.party}'s entry ${e.seq} records a head of ${party} that ${party} did not sign`, { code: 'audit.bad_countersignature', detail: { by: e.party, seq: e.seq } });
      out.push({ party, seq: a.seq, head: a.head, by: e.party });
    }
  }
  return out;
}

/** Parses JSONL (one entry per line); a line that is not JSON is named. */
export function parseAuditJsonl(text: string): AuditEntry[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l, i) => {
    try {
      return JSON.parse(l) as AuditEntry;
    } catch {
      throw new ValidationError(`line ${i + 1} of the audit log is not JSON`, { code: 'audit.malformed' });
    }
  });
}
