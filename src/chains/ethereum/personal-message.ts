/**
 * EIP-191 version 0x45, `personal_sign`: the key signs
 * keccak256("\x19Ethereum Signed Message:\n" || decimal byte length || message). The prefix keeps
 * a signed message from ever being a valid transaction. Hashing is micro-eth-signer's.
 */
import { eip191Signer } from 'micro-eth-signer';
import type { DecodedPayload } from '../payload.ts';

/** Decodes a personal_sign payload: the message bytes themselves, any content. */
export function decodePersonalMessage(message: Uint8Array): DecodedPayload {
  const digestHex = eip191Signer.getHash(message);
  return {
    txType: 'raw-message',
    chain: null,
    contract: null,
    to: null,
    amount: '0',
    data: null,
    signBytes: new Uint8Array(Buffer.from(digestHex.slice(2), 'hex')),
  };
}
