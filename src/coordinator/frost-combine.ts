import { aggregate, type FrostCommitmentInput } from '../protocols/frost/index.ts';
import type { GroupPublic } from './dkg-runner.ts';

/**
 * Combines the signature shares of one signing session: each share is verified (a bad one names
 * its node), then the aggregate is checked against the key's public key before anyone sees it.
 */
export function combineShares(group: GroupPublic, commitments: FrostCommitmentInput[], message: Uint8Array, shares: Record<string, string>): string {
  // aggregate() verifies each share (naming a bad one) and the final signature under the key's
  // reported public key before it returns.
  return aggregate(group, commitments, message, shares);
}
