/**
 * Ethereum addresses: the last 20 bytes of keccak256 of the uncompressed public key (Yellow
 * Paper, Appendix F), written with the EIP-55 mixed-case checksum. The hashing and checksum are
 * micro-eth-signer's `addr`; this file only validates the boundary.
 */
import { addr } from 'micro-eth-signer';
import { ValidationError } from '../../common/errors.ts';

const HEX_ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** The EIP-55 checksummed address of a secp256k1 public key (33 bytes compressed or 65 uncompressed). */
export function ethAddress(publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || (publicKey.length !== 33 && publicKey.length !== 65)) {
    throw new ValidationError('an Ethereum address needs a 33- or 65-byte secp256k1 public key', { code: 'key.invalid' });
  }
  try {
    return addr.fromPublicKey(publicKey);
  } catch {
    throw new ValidationError('public key is not a point on secp256k1', { code: 'key.invalid' });
  }
}

/** True for a 0x-prefixed 20-byte hex string, whatever its case (checksum not checked). */
export function isHexAddress(s: unknown): s is string {
  return typeof s === 'string' && HEX_ADDRESS.test(s);
}

/**
 * Parses an address given by a client: 0x + 40 hex digits; a mixed-case spelling must carry a
 * valid EIP-55 checksum (a wrong one is a typo, not a different address). Returns lowercase.
 * `null` when `s` is not a valid address.
 */
export function parseHexAddress(s: unknown): string | null {
  if (!isHexAddress(s)) return null;
  const body = s.slice(2);
  const mixed = body !== body.toLowerCase() && body !== body.toUpperCase();
  if (mixed && addr.addChecksum(s) !== s) return null;
  return s.toLowerCase();
}
