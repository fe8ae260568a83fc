import { createHash } from 'node:crypto';
import { canonicalJson, type Json } from '../common/canonical-json.ts';
import { ValidationError } from '../common/errors.ts';
import { verifyBy, type Identity } from './identity.ts';
import { parsePolicy, type Policy } from './document.ts';
import { PolicyRefusal } from './refusal.ts';

/**
 * A policy version as it travels: the document plus the signatures of an admin quorum. Admins
 * sign a digest bound to the cluster (the genesis hash), so a policy signed for one cluster is
 * worthless on another. Which admins and how many is decided by the version being replaced (or
 * the genesis for the first one): a new version cannot vouch for itself.
 */
export type PolicySignature = { admin: string; signature: string };
export type SignedPolicy = { policy: Policy; signatures: PolicySignature[] };
export type AdminSet = { threshold: number; identities: Identity[] };

export function policyDigest(cluster: string, policy: Policy): Uint8Array {
  return new Uint8Array(createHash('sha256').update(canonicalJson({ domain: 'custos/policy/v1', cluster, policy: policy as unknown as Json })).digest());
}

/** Strict parse of `{policy, signatures}` as the coordinator relays it. */
export function parseSignedPolicy(x: unknown): SignedPolicy {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new ValidationError('a signed policy must be an object {policy, signatures}', { code: 'policy.invalid' });
  const o = x as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => k !== 'policy' && k !== 'signatures');
  if (extra.length) throw new ValidationError(`a signed policy has unexpected field(s) ${extra.join(', ')}`, { code: 'policy.invalid' });
  const policy = parsePolicy(o.policy);
  if (o.signatures === undefined) return { policy, signatures: [] };
  if (!Array.isArray(o.signatures) || o.signatures.length > 100) throw new ValidationError('signatures must be an array of {admin, signature}', { code: 'policy.invalid' });
  const signatures = o.signatures.map((s, i) => {
    const so = s as Record<string, unknown> | null;
    if (!so || typeof so !== 'object' || typeof so.admin !== 'string' || typeof so.signature !== 'string' || Object.keys(so).length !== 2) {
      throw new ValidationError(`signatures[${i}] must be {admin, signature}`, { code: 'policy.invalid' });
    }
    return { admin: so.admin, signature: so.signature };
  });
  return { policy, signatures };
}

/**
 * Checks that `signed` carries valid signatures of at least `admins.threshold` distinct admins of
 * `admins`; returns their ids. Names the first signature that is not an admin's valid one.
 */
export function verifyPolicyQuorum(cluster: string, signed: SignedPolicy, admins: AdminSet): string[] {
  if (signed.signatures.length === 0) throw new PolicyRefusal('policy.unsigned', `policy version ${signed.policy.version} carries no admin signature`, { culprit: 'coordinator' });
  const digest = policyDigest(cluster, signed.policy);
  const valid = new Set<string>();
  for (const s of signed.signatures) {
    const admin = admins.identities.find((i) => i.id === s.admin && i.roles.includes('admin'));
    if (!admin) throw new PolicyRefusal('policy.bad_signature', `policy version ${signed.policy.version} is signed by ${JSON.stringify(s.admin)}, who is not a current admin`, { culprit: 'coordinator', detail: { admin: s.admin } });
    if (!verifyBy(admin, digest, s.signature)) throw new PolicyRefusal('policy.bad_signature', `the signature of admin ${s.admin} on policy version ${signed.policy.version} does not verify`, { culprit: 'coordinator', detail: { admin: s.admin } });
    valid.add(admin.id);
  }
  if (valid.size < admins.threshold) {
    throw new PolicyRefusal('policy.under_signed', `policy version ${signed.policy.version} has ${valid.size} distinct admin signature(s); ${admins.threshold} are required`, { culprit: 'coordinator', detail: { have: valid.size, need: admins.threshold } });
  }
  return [...valid];
}
