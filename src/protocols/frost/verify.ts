import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1_FROST } from '@noble/curves/secp256k1.js';
import { fromHex } from '../../common/bytes.ts';
import { ValidationError } from '../../common/errors.ts';
import type { FrostScheme, Scheme } from '../../common/schemes.ts';
import { suiteOf } from './suite.ts';

const SIZES: Record<FrostScheme, { publicKey: number; signature: number }> = {
  'frost-ed25519': { publicKey: 32, signature: 64 },
  'frost-secp256k1': { publicKey: 33, signature: 65 },
  bip340: { publicKey: 32, signature: 64 },
};

/**
 * Checks a final signature against a key's reported public key (public-key.ts), the way its
 * consumers will:
 *   frost-ed25519   RFC 8032 Ed25519 verification, strict encodings (ed25519.verify, zip215 off)
 *   frost-secp256k1 RFC 9591 verification (Appendix B, prime-order group): 65-byte R || z
 *   bip340          BIP340 verification (schnorr.verify) under the x-only output key
 * A malformed public key is the caller's error (ValidationError); a malformed signature is false.
 */
export function verifySignature(scheme: Scheme, publicKey: string, message: Uint8Array, signature: string): boolean {
  suiteOf(scheme);
  const sizes = SIZES[scheme as FrostScheme];
  const pk = fromHex(publicKey, 'publicKey', sizes.publicKey);
  if (!(message instanceof Uint8Array)) throw new ValidationError('message must be bytes', { code: 'frost.bad_message' });
  let sig: Uint8Array;
  try {
    sig = fromHex(signature, 'signature', sizes.signature);
  } catch {
    return false;
  }
  try {
    if (scheme === 'frost-ed25519') return ed25519.verify(sig, message, pk, { zip215: false });
    if (scheme === 'bip340') return schnorr.verify(sig, message, pk);
    return secp256k1_FROST.verify(sig, message, pk);
  } catch {
    return false;
  }
}
