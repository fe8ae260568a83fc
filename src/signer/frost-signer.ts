import type { DkgResult } from '../protocols/dkg/types.ts';
import * as frost from '../protocols/frost/index.ts';
import type { FrostCommitmentInput, FrostPublicKeyReport } from '../protocols/frost/index.ts';

/**
 * The signer core for FROST keys: (unsealed share, request, nonces) -> partial signature. Pure,
 * no I/O: the node unseals the share and the nonce through its HSM for exactly one call, and
 * wipes them afterwards. This is the part that belongs inside an HSM or a TEE.
 */
export type KeyPublic = Omit<DkgResult, 'secretShare'>;

export function publicKeyReport(pub: KeyPublic): FrostPublicKeyReport {
  return frost.publicKeyReport(pub);
}

/** Round one ahead of time: fresh nonces (SECRET, to be sealed) and their public commitments. */
export function commitNonce(pub: KeyPublic, share: Uint8Array): { nonceSecret: Uint8Array; hiding: string; binding: string } {
  const out = frost.commit({ ...pub, secretShare: share });
  return { nonceSecret: out.nonces, hiding: out.commitment.hiding, binding: out.commitment.binding };
}

/** Round two: this party's signature share over `message` for the signing set `commitments`. */
export function partialSign(pub: KeyPublic, share: Uint8Array, nonceSecret: Uint8Array, commitments: FrostCommitmentInput[], message: Uint8Array): string {
  return frost.signShare({ ...pub, secretShare: share }, nonceSecret, commitments, message);
}
