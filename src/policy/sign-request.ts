import { ValidationError } from '../common/errors.ts';
import type { Json } from '../common/canonical-json.ts';
import { BASE_UNITS, PAYLOAD_TYPES, type Intent, type SignPayload } from '../chains/payload.ts';
import { approvalDigest, requestDigest } from './identity.ts';

/**
 * What an initiator signs (issue 4, items 1 and 3): the key, the payload bytes with what they are
 * meant to do (the intent), the derivation path, who asks, a nonce and the time. Nodes decode the
 * payload themselves and refuse when it does not match the intent; the coordinator only relays.
 * An Authorization is the request, the initiator's signature and whatever approvals were given.
 */
export type SignRequest = {
  keyId: string;
  payload: SignPayload;
  intent?: Intent;
  derivationPath?: string;
  initiator: string;
  nonce: string;
  createdAt: string;
};
export type Approval = { requestDigest: string; approver: string; decision: 'approve' | 'reject'; expiresAt: string; signature: string };
export type Authorization = { request: SignRequest; signature: string; approvals: Approval[] };

const ID_RE = /^[A-Za-z0-9._:@-]{1,100}$/;
const HEX_RE = /^([0-9a-f]{2})*$/;
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const INTENT_FIELDS = ['chain', 'asset', 'to', 'amount', 'data'] as const;
export const MAX_PAYLOAD_HEX = 2 * 1024 * 1024;
export const MAX_APPROVALS = 50;

const bad = (path: string, message: string) => new ValidationError(`${path}: ${message}`, { code: 'request.invalid', detail: { path } });

function fields(x: unknown, path: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw bad(path, 'must be an object');
  const extra = Object.keys(x).filter((k) => !allowed.includes(k));
  if (extra.length) throw bad(path, `unexpected field(s) ${extra.join(', ')}`);
  return x as Record<string, unknown>;
}

function isoTime(v: unknown, path: string): string {
  if (typeof v !== 'string' || !ISO_RE.test(v) || Number.isNaN(Date.parse(v))) throw bad(path, 'must be an ISO 8601 UTC time (…Z)');
  return v;
}

export function parseSignRequest(x: unknown, path = 'request'): SignRequest {
  const o = fields(x, path, ['keyId', 'payload', 'intent', 'derivationPath', 'initiator', 'nonce', 'createdAt']);
  if (typeof o.keyId !== 'string' || !ID_RE.test(o.keyId)) throw bad(`${path}.keyId`, 'must be a key id');
  const p = fields(o.payload, `${path}.payload`, ['type', 'hex']);
  if (!(PAYLOAD_TYPES as readonly unknown[]).includes(p.type)) throw bad(`${path}.payload.type`, `must be one of ${PAYLOAD_TYPES.join(', ')}`);
  // Only a raw message may be empty (Schnorr/EdDSA sign the empty message); anything else must carry bytes.
  if (typeof p.hex !== 'string' || (p.hex.length === 0 && p.type !== 'message') || p.hex.length > MAX_PAYLOAD_HEX || !HEX_RE.test(p.hex)) throw bad(`${path}.payload.hex`, 'must be lowercase hex without 0x (non-empty except for a message)');
  const out: SignRequest = { keyId: o.keyId, payload: { type: p.type as SignPayload['type'], hex: p.hex }, initiator: '', nonce: '', createdAt: '' };
  if (o.intent !== undefined) {
    const i = fields(o.intent, `${path}.intent`, INTENT_FIELDS);
    const intent: Intent = {};
    for (const f of INTENT_FIELDS) {
      if (i[f] === undefined) continue;
      if (typeof i[f] !== 'string' || (i[f] as string).length === 0 || (i[f] as string).length > 100_000) throw bad(`${path}.intent.${f}`, 'must be a non-empty string');
      intent[f] = i[f] as string;
    }
    if (intent.amount !== undefined && !BASE_UNITS.test(intent.amount)) throw bad(`${path}.intent.amount`, 'must be base units as a decimal string');
    out.intent = intent;
  }
  if (o.derivationPath !== undefined) {
    if (typeof o.derivationPath !== 'string' || o.derivationPath.length > 200) throw bad(`${path}.derivationPath`, 'must be a string');
    out.derivationPath = o.derivationPath;
  }
  if (typeof o.initiator !== 'string' || !ID_RE.test(o.initiator)) throw bad(`${path}.initiator`, 'must name an identity');
  if (typeof o.nonce !== 'string' || !/^[0-9a-f]{16,64}$/.test(o.nonce)) throw bad(`${path}.nonce`, 'must be 8..32 random bytes of lowercase hex');
  out.initiator = o.initiator;
  out.nonce = o.nonce;
  out.createdAt = isoTime(o.createdAt, `${path}.createdAt`);
  return out;
}

export function parseApproval(x: unknown, path = 'approval'): Approval {
  const o = fields(x, path, ['requestDigest', 'approver', 'decision', 'expiresAt', 'signature']);
  if (typeof o.requestDigest !== 'string' || !/^[0-9a-f]{64}$/.test(o.requestDigest)) throw bad(`${path}.requestDigest`, 'must be 32 bytes of lowercase hex');
  if (typeof o.approver !== 'string' || !ID_RE.test(o.approver)) throw bad(`${path}.approver`, 'must name an identity');
  if (o.decision !== 'approve' && o.decision !== 'reject') throw bad(`${path}.decision`, "must be 'approve' or 'reject'");
  if (typeof o.signature !== 'string' || !/^[0-9a-f]{128}$/.test(o.signature)) throw bad(`${path}.signature`, 'must be 64 bytes of lowercase hex');
  return { requestDigest: o.requestDigest, approver: o.approver, decision: o.decision, expiresAt: isoTime(o.expiresAt, `${path}.expiresAt`), signature: o.signature };
}

export function parseAuthorization(x: unknown, path = 'authorization'): Authorization {
  const o = fields(x, path, ['request', 'signature', 'approvals']);
  const request = parseSignRequest(o.request, `${path}.request`);
  if (typeof o.signature !== 'string' || !/^[0-9a-f]{128}$/.test(o.signature)) throw bad(`${path}.signature`, 'the initiator signature must be 64 bytes of lowercase hex');
  const list = o.approvals === undefined ? [] : o.approvals;
  if (!Array.isArray(list) || list.length > MAX_APPROVALS) throw bad(`${path}.approvals`, `must be an array of at most ${MAX_APPROVALS} approvals`);
  return { request, signature: o.signature, approvals: list.map((a, i) => parseApproval(a, `${path}.approvals[${i}]`)) };
}

/** The canonical digest of a request (hex): what the initiator signs and every approval names. */
export function signRequestDigest(r: SignRequest): string {
  return Buffer.from(requestDigest(r as unknown as { [k: string]: Json })).toString('hex');
}

/** The digest an approver signs for `a` (everything but the signature). */
export function approvalDigestOf(a: Omit<Approval, 'signature'>): Uint8Array {
  return approvalDigest({ requestDigest: a.requestDigest, approver: a.approver, decision: a.decision, expiresAt: a.expiresAt });
}
