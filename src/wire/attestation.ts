import { canonicalBytes } from '../common/canonical-json.ts';
import { fromHex, toHex } from '../common/bytes.ts';
import { AuthenticationError } from '../common/errors.ts';
import type { Genesis } from './genesis.ts';
import { verifyIdentitySignature, type IdentitySigner } from './envelope.ts';

/**
 * A node's signed statement that a DKG it took part in produced this key. Every party of a key
 * attests; a client holding the genesis checks all of them, so a coordinator that swaps a public
 * key (and so a deposit address) is caught.
 */
export type AttestedKey = {
  keyId: string;
  scheme: string;
  threshold: number;
  parties: string[];
  publicKey: string;
  transcriptHash: string;
  /** ecdsa-secp256k1 keys: the joint BIP32 chain code, so a coordinator cannot swap the xpub either. */
  chainCode?: string;
  /**
   * A cold key: parties every signing quorum must include (its offline node). Set at key creation,
   * attested by every party, enforced by every node: a coordinator cannot clear it.
   */
  requiredParties?: string[];
};

export type KeyAttestation = AttestedKey & { node: string; signature: string };

const DOMAIN = 'custos/key-attestation/v1';

export function attestationBytes(cluster: string, k: AttestedKey): Uint8Array {
  const base = { domain: DOMAIN, cluster, keyId: k.keyId, scheme: k.scheme, threshold: k.threshold, parties: k.parties, publicKey: k.publicKey, transcriptHash: k.transcriptHash };
  const withCode = k.chainCode === undefined ? base : { ...base, chainCode: k.chainCode };
  return canonicalBytes(k.requiredParties?.length ? { ...withCode, requiredParties: k.requiredParties } : withCode);
}

export function signAttestation(cluster: string, node: string, k: AttestedKey, sign: IdentitySigner): KeyAttestation {
  const a: AttestedKey = { keyId: k.keyId, scheme: k.scheme, threshold: k.threshold, parties: [...k.parties], publicKey: k.publicKey, transcriptHash: k.transcriptHash };
  if (k.chainCode !== undefined) a.chainCode = k.chainCode;
  if (k.requiredParties?.length) a.requiredParties = [...k.requiredParties];
  return { ...a, node, signature: toHex(sign(attestationBytes(cluster, a))) };
}

/**
 * Checks that every party of `key` signed an attestation of exactly these fields with the identity
 * key the genesis gives it. Throws AuthenticationError naming the first party whose attestation
 * is missing, mismatched or forged.
 */
export function verifyKeyAttestations(genesis: Genesis, cluster: string, key: AttestedKey, attestations: KeyAttestation[]): void {
  const byNode = new Map<string, KeyAttestation>();
  for (const a of attestations) byNode.set(a.node, a);
  const fields: (keyof AttestedKey)[] = ['keyId', 'scheme', 'threshold', 'publicKey', 'transcriptHash', 'chainCode'];
  for (const party of key.parties) {
    const node = genesis.nodes.find((n) => n.id === party);
    if (!node) throw new AuthenticationError('attestation.unknown_party', `key party ${party} is not in the genesis`, 'coordinator');
    const a = byNode.get(party);
    if (!a) throw new AuthenticationError('attestation.missing', `no attestation from ${party}`, 'coordinator');
    for (const f of fields) {
      if (a[f] !== key[f]) throw new AuthenticationError('attestation.mismatch', `attestation by ${party} states ${f} ${JSON.stringify(a[f])}, the key says ${JSON.stringify(key[f])}`, 'coordinator', { field: f, node: party });
    }
    if (JSON.stringify(a.requiredParties ?? []) !== JSON.stringify(key.requiredParties ?? [])) throw new AuthenticationError('attestation.mismatch', `attestation by ${party} states other required parties (cold flag) than the key`, 'coordinator', { field: 'requiredParties', node: party });
    if (JSON.stringify(a.parties) !== JSON.stringify(key.parties)) throw new AuthenticationError('attestation.mismatch', `attestation by ${party} names other parties`, 'coordinator', { field: 'parties', node: party });
    if (!verifyIdentitySignature(fromHex(node.identityKey), attestationBytes(cluster, a), a.signature)) {
      throw new AuthenticationError('attestation.bad_signature', `attestation claimed to be by ${party} is not signed by its genesis identity key`, 'coordinator', { node: party });
    }
  }
}
