import type { NonceCommitments } from '@noble/curves/abstract/frost.js';
import { fromHex, toHex } from '../../common/bytes.ts';
import { CustosError, ProtocolAbort, ValidationError } from '../../common/errors.ts';
import { importCommitments, type FrostCommitmentInput } from './commitments.ts';
import { importPublic, type FrostKeyPublic, type ImportedPublic } from './keys.ts';
import { reportOf } from './public-key.ts';
import { verifySignature } from './verify.ts';

/**
 * RFC 9591 Section 5.4 verify_signature_share(): is `share` (hex SerializeScalar) the correct
 * signature share of `party` for this message and signing set? Malformed shares are false;
 * a malformed key, commitment list or a party outside the list is a ValidationError.
 */
export function verifyShare(key: FrostKeyPublic, commitments: readonly FrostCommitmentInput[], message: Uint8Array, party: string, share: string): boolean {
  const imported = importPublic(key);
  const list = importCommitments(imported, commitments);
  assertMessage(message);
  const id = imported.identifierOf(party);
  if (!list.some((c) => c.identifier === id)) throw new ValidationError(`${party} is not among the signers`, { code: 'frost.not_a_signer', detail: { party } });
  const z = decodeShare(imported, share);
  return z !== undefined && shareIsValid(imported, list, message, id, z);
}

/**
 * RFC 9591 Section 5.3 aggregate(), then the final signature is verified against the key's
 * reported public key. `shares` holds exactly one hex share per signer of the commitment list.
 * A share that is malformed or fails verification (Section 5.4, identifiable abort) throws
 * ProtocolAbort('frost.bad_share') naming the first culprit; detail.culprits lists them all.
 * Returns the signature, hex: 64 bytes R || z for frost-ed25519 and bip340 (BIP340 form, x-only
 * R), 65 bytes (compressed R || z) for frost-secp256k1.
 */
export function aggregate(key: FrostKeyPublic, commitments: readonly FrostCommitmentInput[], message: Uint8Array, shares: Readonly<Record<string, string>>): string {
  const imported = importPublic(key);
  const list = importCommitments(imported, commitments);
  assertMessage(message);
  if (typeof shares !== 'object' || shares === null) throw new ValidationError('shares must be an object keyed by party', { code: 'frost.bad_shares' });
  const signers = commitments.map((c) => c.party);
  for (const p of Object.keys(shares)) {
    if (!signers.includes(p)) throw new ValidationError(`a share from ${p}, who is not in the commitment list`, { code: 'frost.bad_shares', detail: { party: p } });
  }
  const byId: Record<string, Uint8Array> = {};
  const malformed: string[] = [];
  for (const p of signers) {
    if (!Object.hasOwn(shares, p)) throw new ValidationError(`no signature share from ${p}`, { code: 'frost.missing_share', detail: { party: p } });
    const z = decodeShare(imported, shares[p]);
    if (z === undefined) malformed.push(p);
    else byId[imported.identifierOf(p)] = z;
  }
  if (malformed.length > 0) throw badShares(malformed);
  let sig: Uint8Array;
  try {
    sig = imported.suite.frost.aggregate(imported.pub, list, message, byId);
  } catch (e) {
    const culprits = signers.filter((p) => !shareIsValid(imported, list, message, imported.identifierOf(p), byId[imported.identifierOf(p)]));
    if (culprits.length > 0) throw badShares(culprits);
    throw new CustosError('frost.aggregate_failed', 'aggregation failed although every share verifies', { cause: e instanceof Error ? new Error(e.message.slice(0, 200)) : undefined });
  }
  const out = toHex(sig);
  if (!verifySignature(imported.suite.scheme, reportOf(imported).publicKey, message, out)) {
    throw new CustosError('frost.aggregate_failed', 'the aggregated signature does not verify under the key\'s public key');
  }
  return out;
}

function badShares(culprits: string[]): ProtocolAbort {
  const who = culprits.join(', ');
  return new ProtocolAbort('frost.bad_share', culprits[0], `invalid signature share from ${who}`, { culprits });
}

function assertMessage(message: unknown): void {
  if (!(message instanceof Uint8Array)) throw new ValidationError('message must be bytes', { code: 'frost.bad_message' });
}

/** DeserializeScalar (RFC 9591 Section 3.1) of a share; undefined when malformed. */
function decodeShare(imported: ImportedPublic, share: unknown): Uint8Array | undefined {
  try {
    const bytes = fromHex(share as string, 'share', imported.suite.scalarBytes);
    imported.suite.decodeScalar(bytes);
    return bytes;
  } catch {
    return undefined;
  }
}

function shareIsValid(imported: ImportedPublic, list: NonceCommitments[], message: Uint8Array, id: string, share: Uint8Array): boolean {
  try {
    return imported.suite.frost.verifyShare(imported.pub, list, message, id, share);
  } catch {
    return false;
  }
}
