import { sha256 } from '@noble/hashes/sha2.js';
import { canonicalBytes } from '../common/canonical-json.ts';
import { toHex } from '../common/bytes.ts';
import { verifyIdentitySignature, type IdentitySigner } from './envelope.ts';

/**
 * A FROST round-one commitment published ahead of time into a pool. Its owner signs it together
 * with the key and the quorum it may be used with: nonces are bound to one signing quorum, so
 * every other member of that quorum takes part in every use of it and can refuse a second one.
 */
export type NonceCommitment = {
  keyId: string;
  quorum: string[];
  party: string;
  nonceId: string;
  hiding: string;
  binding: string;
};
export type SignedNonceCommitment = NonceCommitment & { sig: string };

const DOMAIN = 'custos/nonce-commitment/v1';

function bytesOf(cluster: string, c: NonceCommitment): Uint8Array {
  return canonicalBytes({ domain: DOMAIN, cluster, keyId: c.keyId, quorum: c.quorum, party: c.party, nonceId: c.nonceId, hiding: c.hiding, binding: c.binding });
}

export function signNonceCommitment(cluster: string, c: NonceCommitment, sign: IdentitySigner): SignedNonceCommitment {
  return { keyId: c.keyId, quorum: [...c.quorum], party: c.party, nonceId: c.nonceId, hiding: c.hiding, binding: c.binding, sig: toHex(sign(bytesOf(cluster, c))) };
}

export function verifyNonceCommitment(cluster: string, c: SignedNonceCommitment, identityKey: Uint8Array): boolean {
  return verifyIdentitySignature(identityKey, bytesOf(cluster, c), c.sig);
}

/** The canonical name of a quorum: its members in key-party order. */
export function quorumName(members: string[], keyParties: string[]): string {
  return keyParties.filter((p) => members.includes(p)).join(',');
}

/**
 * What one signing session commits to: the key, the message and the exact commitment list.
 * Nonce consumption records and receipts are bound to it, so a receipt for one message cannot
 * release a share for another.
 */
export function signingBinding(keyId: string, messageHex: string, commitments: SignedNonceCommitment[]): string {
  const list = [...commitments].sort((a, b) => (a.party < b.party ? -1 : a.party > b.party ? 1 : 0))
    .map((c) => ({ party: c.party, nonceId: c.nonceId, hiding: c.hiding, binding: c.binding }));
  return toHex(sha256(canonicalBytes({ domain: 'custos/sign-binding/v1', keyId, message: messageHex, commitments: list })));
}
