import type { FrostSecret } from '@noble/curves/abstract/frost.js';
import { equalBytes, toHex, wipe } from '../../common/bytes.ts';
import { CustosError, ProtocolAbort, ValidationError } from '../../common/errors.ts';
import { importCommitments, type FrostCommitmentInput } from './commitments.ts';
import { importPublic, importSecret, type FrostKeyShare } from './keys.ts';
import { decodeNonces, type SigningNonces } from './nonces.ts';

/**
 * RFC 9591 Section 5.2 sign(): this party's signature share over `message` for the signing set
 * given by `commitments` (one per signer; order does not matter).
 *
 * Refuses (before any secret is used) when: the nonces are not this party's for this scheme, or
 * were already used; the commitment list is malformed, has fewer than `threshold` distinct
 * signers or a non-party; this party is not in it; or this party's entry is not the commitment
 * of exactly these nonces (a coordinator swapping it would otherwise get a share computed against
 * a commitment of its choosing).
 *
 * `nonces` (the unsealed round-one bytes) are consumed: the buffer is zeroed whatever the outcome,
 * so a second call with it throws ReuseError. That guards only this buffer; the caller must also
 * burn the sealed copy durably before the share leaves the node.
 */
export function signShare(key: FrostKeyShare, nonces: Uint8Array, commitments: readonly FrostCommitmentInput[], message: Uint8Array): string {
  let n: SigningNonces;
  try {
    n = decodeNonces(nonces, { scheme: key.scheme, party: key.self });
  } finally {
    if (nonces instanceof Uint8Array) wipe(nonces);
  }
  let secret: FrostSecret | undefined;
  try {
    if (!(message instanceof Uint8Array)) throw new ValidationError('message must be bytes', { code: 'frost.bad_message' });
    const imported = importPublic(key);
    const { suite } = imported;
    const sk = importSecret(imported, key);
    secret = sk;
    const list = importCommitments(imported, commitments);
    const own = list.find((c) => c.identifier === sk.identifier);
    if (!own) throw new ValidationError(`this party (${key.self}) is not among the signers`, { code: 'frost.not_a_signer' });
    const hiding = suite.base.multiply(suite.decodeScalar(n.hiding)).toBytes();
    const binding = suite.base.multiply(suite.decodeScalar(n.binding)).toBytes();
    if (!equalBytes(hiding, own.hiding) || !equalBytes(binding, own.binding)) {
      throw new ProtocolAbort('frost.own_commitment_mismatch', 'coordinator', `the commitment list's entry for ${key.self} is not the commitment of its nonces`);
    }
    let share: Uint8Array;
    try {
      share = suite.frost.signShare(sk, imported.pub, { hiding: n.hiding, binding: n.binding }, list, message);
    } catch (e) {
      // Unreachable after the checks above; noble's message is not passed on (it may concern secrets).
      throw new CustosError('frost.sign_failed', 'computing the signature share failed', { cause: e instanceof Error ? new Error(e.name) : undefined });
    }
    return toHex(share);
  } finally {
    wipe(n.hiding, n.binding, secret?.signingShare);
  }
}
