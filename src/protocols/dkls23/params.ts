import { transcriptBytes, transcriptHash } from '../../crypto/transcript.ts';

/**
 * Session ids and domain tags of custos' DKLs23 (ePrint 2023/765). Every hash of the protocol is
 * bound to one of these ids, so material of one pair, presignature or key cannot be replayed into
 * another.
 */

/** Number of base OTs per ordered pair (KOS κ, the computational security of secp256k1). */
export const BASE_OT_COUNT = 128;

/** Session id of the base OTs and of the OT extension of the ordered pair (Alice = multiplication
 * sender, Bob = multiplication receiver) of one key. */
export function pairSetupSid(keySession: string, alice: string, bob: string): Uint8Array {
  return transcriptHash('custos/dkls23/pair-setup/v1', [keySession, alice, bob]);
}

/** Public gadget context of an ordered pair: the gadget vector is fixed per key and pair. */
export function gadgetContext(keySession: string, alice: string, bob: string): Uint8Array {
  return transcriptBytes('custos/dkls23/gadget/v1', [keySession, alice, bob]);
}

/** Session id of one presignature of one quorum (the parties in key order). */
export function presignSid(keySession: string, presignId: string, quorum: readonly string[]): Uint8Array {
  return transcriptHash('custos/dkls23/presign/v1', [keySession, presignId, quorum.length, ...quorum]);
}

/** Session id of one multiplication (ordered pair) inside one presignature. */
export function mulSid(presign: Uint8Array, alice: string, bob: string): Uint8Array {
  return transcriptHash('custos/dkls23/mul/v1', [presign, alice, bob]);
}

/** The first party of an unordered pair (in key order) generates the pair's mask key. */
export function maskKeyContext(keySession: string, from: string, to: string): Uint8Array {
  return transcriptBytes('custos/dkls23/mask-key/v1', [keySession, from, to]);
}
