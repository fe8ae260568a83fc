import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { createHash } from 'node:crypto';
import { canonicalJson, type Json } from '../common/canonical-json.ts';
import { ValidationError } from '../common/errors.ts';
import { verifyP256 } from '../crypto/p256-signature.ts';

/**
 * People and systems that act on keys (issue 4 item 1): initiators, approvers, admins and
 * auditors, each with their own signing key — ECDSA P-256 (so a WebAuthn passkey can serve later)
 * or Ed25519. What they sign is a canonical digest of the request (or of the approval), never a
 * coordinator-supplied summary, so every node can check it itself.
 */
export const ROLES = ['initiator', 'approver', 'admin', 'auditor'] as const;
export type Role = (typeof ROLES)[number];
export type IdentityAlg = 'p256' | 'ed25519';
export type Identity = { id: string; roles: Role[]; alg: IdentityAlg; publicKey: string };

const ID_RE = /^[A-Za-z0-9._@-]{1,100}$/;
const bad = (path: string, message: string) => new ValidationError(`identity ${path}: ${message}`, { code: 'identity.invalid', detail: { path } });

/** Strict parse of one identity; `path` names it in errors. */
export function parseIdentity(x: unknown, path = '$'): Identity {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw bad(path, 'must be an object');
  const o = x as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => !['id', 'roles', 'alg', 'publicKey'].includes(k));
  if (extra.length) throw bad(path, `has unexpected field(s) ${extra.join(', ')}`);
  if (typeof o.id !== 'string' || !ID_RE.test(o.id)) throw bad(`${path}.id`, 'must be 1..100 characters of [A-Za-z0-9._@-]');
  if (!Array.isArray(o.roles) || o.roles.length === 0 || o.roles.some((r) => !(ROLES as readonly unknown[]).includes(r)) || new Set(o.roles).size !== o.roles.length) {
    throw bad(`${path}.roles`, `must list distinct roles among ${ROLES.join(', ')}`);
  }
  if (o.alg !== 'p256' && o.alg !== 'ed25519') throw bad(`${path}.alg`, 'must be p256 or ed25519');
  const len = o.alg === 'p256' ? 66 : 64;
  if (typeof o.publicKey !== 'string' || !new RegExp(`^[0-9a-f]{${len}}$`).test(o.publicKey)) throw bad(`${path}.publicKey`, `must be ${len / 2} bytes of lowercase hex (${o.alg === 'p256' ? 'compressed SEC1' : 'RFC 8032'})`);
  try {
    (o.alg === 'ed25519' ? ed25519.Point : p256.Point).fromBytes(Buffer.from(o.publicKey, 'hex'));
  } catch {
    throw bad(`${path}.publicKey`, 'is not a valid point');
  }
  return { id: o.id, roles: [...o.roles] as Role[], alg: o.alg, publicKey: o.publicKey };
}

/** The digest an initiator signs: SHA-256 of the canonical request under a fixed domain. */
export function requestDigest(request: { [k: string]: Json }): Uint8Array {
  return new Uint8Array(createHash('sha256').update(canonicalJson({ domain: 'custos/sign-request/v1', request })).digest());
}

/** The digest an approver signs: the request digest, the approver, its decision and expiry. */
export function approvalDigest(a: { requestDigest: string; approver: string; decision: 'approve' | 'reject'; expiresAt: string }): Uint8Array {
  return new Uint8Array(createHash('sha256').update(canonicalJson({ domain: 'custos/approval/v1', ...a })).digest());
}

/**
 * True iff `signature` (hex) is `identity`'s signature over `digest`: P-256 ECDSA over
 * SHA-256(digest), 64-byte r||s with low s (high-s malleated copies are refused); or Ed25519
 * (RFC 8032, strict) over the digest bytes.
 */
export function verifyBy(identity: Identity, digest: Uint8Array, signature: string): boolean {
  if (typeof signature !== 'string' || !/^[0-9a-f]{128}$/.test(signature)) return false;
  const sig = Buffer.from(signature, 'hex');
  const pub = Buffer.from(identity.publicKey, 'hex');
  try {
    return identity.alg === 'p256' ? verifyP256(pub, digest, sig) : ed25519.verify(sig, digest, pub, { zip215: false });
  } catch {
    return false;
  }
}

/** An identity's private signing key, as a client (CLI, SDK, test) holds it; never sent anywhere. */
export type IdentitySecret = { id: string; alg: IdentityAlg; secretKey: string };

/** Signs `digest` as verifyBy expects: P-256 low-s over SHA-256(digest), or Ed25519 over the digest. */
export function signAs(who: IdentitySecret, digest: Uint8Array): string {
  const sk = Buffer.from(who.secretKey, 'hex');
  if (who.alg === 'ed25519') return Buffer.from(ed25519.sign(digest, sk)).toString('hex');
  const prehashed = new Uint8Array(createHash('sha256').update(digest).digest());
  return Buffer.from(p256.sign(prehashed, sk, { prehash: false, lowS: true })).toString('hex');
}

/** A fresh identity key pair (demo bootstrap, tests); the public half goes into the policy. */
export function newIdentity(id: string, roles: Role[], alg: IdentityAlg = 'p256'): { identity: Identity; secret: IdentitySecret } {
  const sk = alg === 'ed25519' ? ed25519.utils.randomSecretKey() : p256.utils.randomSecretKey();
  const pub = alg === 'ed25519' ? ed25519.getPublicKey(sk) : p256.getPublicKey(sk, true);
  return { identity: { id, roles, alg, publicKey: Buffer.from(pub).toString('hex') }, secret: { id, alg, secretKey: Buffer.from(sk).toString('hex') } };
}

/** The identity `id` if it exists and holds `role`; a ValidationError naming which is wrong otherwise. */
export function requireRole(identities: readonly Identity[], id: string, role: Role): Identity {
  const who = identities.find((i) => i.id === id);
  if (!who) throw new ValidationError(`unknown identity ${JSON.stringify(id)}`, { code: 'identity.unknown' });
  if (!who.roles.includes(role)) throw new ValidationError(`${id} does not hold the ${role} role`, { code: 'identity.wrong_role' });
  return who;
}
