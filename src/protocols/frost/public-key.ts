import { toHex } from '../../common/bytes.ts';
import { importPublic, type FrostKeyPublic, type ImportedPublic } from './keys.ts';
import { xOnly } from './taproot.ts';

/**
 * The public key a key reports to the outside world, which its signatures verify under:
 *   frost-ed25519   `publicKey` = the 32-byte Ed25519 public key (RFC 8032 encoding)
 *   frost-secp256k1 `publicKey` = the 33-byte compressed SEC1 group key
 *   bip340          `publicKey` = the 32-byte x-only Taproot OUTPUT key (BIP86 tweak, BIP341),
 *                   `internalKey` = the 32-byte x-only untweaked group key
 */
export type FrostPublicKeyReport = {
  publicKey: string;
  internalKey?: string;
};

export function publicKeyReport(key: FrostKeyPublic): FrostPublicKeyReport {
  return reportOf(importPublic(key));
}

export function reportOf(imported: ImportedPublic): FrostPublicKeyReport {
  if (imported.suite.scheme !== 'bip340') return { publicKey: toHex(imported.groupKey) };
  return { publicKey: toHex(xOnly(imported.pub.commitments[0])), internalKey: toHex(xOnly(imported.groupKey)) };
}
