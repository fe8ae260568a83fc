import { ProtocolAbort } from '../common/errors.ts';
import { aggregate, verifySignature, type FrostCommitmentInput } from '../protocols/frost/index.ts';
import type { GroupPublic } from './dkg-runner.ts';

/**
 * Combines the signature shares of one signing session: each share is verified (a bad one names
 * its node), then the aggregate is checked against the key's public key before anyone sees it.
 */
export function combineShares(group: GroupPublic, commitments: FrostCommitmentInput[], message: Uint8Array, shares: Record<string, string>): string {
  const signature = aggregate(group, commitments, message, shares);
  if (!verifySignature(group.scheme, group.publicKey, message, signature)) {
    throw new ProtocolAbort('frost.bad_signature', 'coordinator', 'the combined signature does not verify under the key');
  }
  return signature;
}
