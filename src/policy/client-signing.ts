import { randomBytes } from 'node:crypto';
import type { Policy } from './document.ts';
import { signAs, type IdentitySecret } from './identity.ts';
import { approvalDigestOf, signRequestDigest, type Approval, type SignRequest } from './sign-request.ts';
import { policyDigest, type SignedPolicy } from './signed-policy.ts';

/**
 * What a client does with its own identity key (the CLI, an SDK, tests): sign a request, an
 * approval, a policy version. Private keys stay with the client; only signatures travel.
 */
export function signRequestAs(initiator: IdentitySecret, r: Omit<SignRequest, 'initiator' | 'nonce' | 'createdAt'> & Partial<Pick<SignRequest, 'nonce' | 'createdAt'>>): { request: SignRequest; signature: string } {
  const request: SignRequest = {
    ...r,
    initiator: initiator.id,
    nonce: r.nonce ?? randomBytes(16).toString('hex'),
    createdAt: r.createdAt ?? new Date().toISOString(),
  };
  return { request, signature: signAs(initiator, Buffer.from(signRequestDigest(request), 'hex')) };
}

export function approvalBy(approver: IdentitySecret, requestDigest: string, decision: 'approve' | 'reject' = 'approve', expiresAt = new Date(Date.now() + 24 * 3600_000).toISOString()): Approval {
  const a = { requestDigest, approver: approver.id, decision, expiresAt };
  return { ...a, signature: signAs(approver, approvalDigestOf(a)) };
}

export function signPolicyAs(cluster: string, policy: Policy, admins: readonly IdentitySecret[]): SignedPolicy {
  const digest = policyDigest(cluster, policy);
  return { policy, signatures: admins.map((a) => ({ admin: a.id, signature: signAs(a, digest) })) };
}
