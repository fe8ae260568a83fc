import { createCipheriv, createDecipheriv } from 'node:crypto';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, wipe } from '../common/bytes.ts';
import { CustosError, ValidationError } from '../common/errors.ts';
import { getGroup, type GroupPoint } from './group.ts';
import { secureRng, type Rng } from './random.ts';
import { transcriptBytes } from './transcript.ts';
import { proveKnowledge, verifyKnowledge, type PokContext } from './schnorr-pok.ts';

/**
 * ECIES to a node's P-256 encryption key (SEC 1 v2 Section 5.1 in spirit, with modern choices):
 *   E = e·G (fresh e), S = e·PK,
 *   key || iv = HKDF-SHA256(ikm = x(S), salt = none, info = transcript(E, PK, context)),  (RFC 5869)
 *   AES-256-GCM(key, iv, aad = context).                                                  (NIST SP 800-38D)
 * Ciphertext = E (33 bytes, compressed) || GCM ciphertext || tag (16 bytes).
 * The key is fresh per message (fresh e), so the derived IV never repeats under one key. Binding
 * E and PK into the KDF and the context into both KDF and AAD means a ciphertext opens only for
 * its recipient and only in the context (session, sender, receiver…) it was made for.
 * Revealing S opens this one ciphertext and nothing else ONLY if the sender provably knows e (see
 * eciesEncryptProvingEphemeral); otherwise a sender could reuse another ciphertext's E.
 */
const KDF_TAG = 'custos/ecies/p256-hkdf-sha256-aes256gcm/v1';
const P256 = getGroup('p256');
const TAG_BYTES = 16;

export const ECIES_OVERHEAD = P256.pointBytes + TAG_BYTES;

export function eciesCiphertextLength(plaintextLength: number): number {
  return plaintextLength + ECIES_OVERHEAD;
}

/** Decodes a P-256 secret key (32 bytes big-endian, 1 <= sk < n). */
export function decodeEncryptionSecretKey(secretKey: Uint8Array): bigint {
  let sk: bigint;
  try {
    sk = P256.decodeScalar(secretKey, 'encryption secret key');
  } catch {
    sk = 0n;
  }
  // The message names no value: this is a secret.
  if (sk === 0n) throw new ValidationError('encryption secret key must be a 32-byte P-256 scalar in [1, n-1]', { code: 'crypto.bad_secret_key' });
  return sk;
}

/** The ephemeral public key E of a ciphertext. Throws ValidationError `crypto.bad_point`. */
export function eciesEphemeralKey(ciphertext: Uint8Array): GroupPoint {
  if (!(ciphertext instanceof Uint8Array) || ciphertext.length < ECIES_OVERHEAD) {
    throw new ValidationError('ciphertext is too short', { code: 'crypto.bad_ciphertext' });
  }
  return P256.decodePoint(ciphertext.subarray(0, P256.pointBytes), 'ciphertext ephemeral key');
}

function deriveKey(S: GroupPoint, E: Uint8Array, recipient: Uint8Array, context: Uint8Array): { key: Uint8Array; iv: Uint8Array } {
  const Sx = P256.encodePoint(S).subarray(1);
  const okm = hkdf(sha256, Sx, undefined, transcriptBytes(KDF_TAG, [E, recipient, context]), 44);
  wipe(Sx);
  return { key: okm.subarray(0, 32), iv: okm.subarray(32) };
}

/** Encrypts `plaintext` to the P-256 public key `recipient` (33 bytes compressed) in `context`. */
export function eciesEncrypt(recipient: Uint8Array, plaintext: Uint8Array, context: Uint8Array, rng: Rng = secureRng): Uint8Array {
  return encryptWith(P256.randomScalar(rng), recipient, plaintext, context);
}

/**
 * Encrypts as eciesEncrypt and proves knowledge of the ephemeral secret e (Schnorr, bound to
 * `pokCtx` and E). Why: a recipient who complains about a ciphertext reveals S = sk·E. If the
 * sender could pick E freely, e.g. copy the E of another sender's ciphertext from an earlier
 * session, that S would open the other ciphertext: a decryption oracle on the recipient's key.
 * With the proof, the sender already knows e and so S = e·PK: revealing it gives nothing away.
 */
export function eciesEncryptProvingEphemeral(recipient: Uint8Array, plaintext: Uint8Array, context: Uint8Array, pokCtx: PokContext, rng: Rng = secureRng): { ciphertext: Uint8Array; proof: Uint8Array } {
  const e = P256.randomScalar(rng);
  const ciphertext = encryptWith(e, recipient, plaintext, context);
  return { ciphertext, proof: proveKnowledge(P256, e, pokCtx, rng) };
}

/** Checks the proof of knowledge of the ciphertext's ephemeral secret. Never throws. */
export function verifyEphemeralProof(ciphertext: Uint8Array, proof: Uint8Array, pokCtx: PokContext): boolean {
  try {
    return verifyKnowledge(P256, eciesEphemeralKey(ciphertext), proof, pokCtx);
  } catch {
    return false;
  }
}

export const EPHEMERAL_PROOF_BYTES = P256.pointBytes + P256.scalarBytes;

function encryptWith(e: bigint, recipient: Uint8Array, plaintext: Uint8Array, context: Uint8Array): Uint8Array {
  const PK = P256.decodePoint(recipient, 'recipient encryption key');
  const E = P256.encodePoint(P256.base.multiply(e));
  const { key, iv } = deriveKey(PK.multiply(e), E, recipient, context);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(context);
  const body = concatBytes(cipher.update(plaintext), cipher.final());
  const tag = cipher.getAuthTag();
  wipe(key, iv);
  return concatBytes(E, body, tag);
}

/**
 * Opens a ciphertext given the ECDH point S = sk·E, by whoever holds it: the recipient (via
 * eciesDecrypt) or anyone who was shown a proven S (decryption-proof.ts). Throws CustosError
 * `crypto.decrypt_failed` if the tag does not verify.
 */
export function eciesDecryptWithSharedPoint(S: GroupPoint, recipient: Uint8Array, ciphertext: Uint8Array, context: Uint8Array): Uint8Array {
  eciesEphemeralKey(ciphertext);
  const E = ciphertext.subarray(0, P256.pointBytes);
  const body = ciphertext.subarray(P256.pointBytes, ciphertext.length - TAG_BYTES);
  const tag = ciphertext.subarray(ciphertext.length - TAG_BYTES);
  const { key, iv } = deriveKey(S, E, recipient, context);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(context);
    decipher.setAuthTag(tag);
    return new Uint8Array(concatBytes(decipher.update(body), decipher.final()));
  } catch {
    throw new CustosError('crypto.decrypt_failed', 'ciphertext does not open under this key and context', { status: 400 });
  } finally {
    wipe(key, iv);
  }
}

/** S = sk·E for the ciphertext's E: the ECDH point that opens it. S is as secret as the plaintext. */
export function eciesSharedPoint(secretKey: Uint8Array, ciphertext: Uint8Array): GroupPoint {
  const sk = decodeEncryptionSecretKey(secretKey);
  return eciesEphemeralKey(ciphertext).multiply(sk);
}

/** Decrypts with the recipient's P-256 secret key (32 bytes). Throws `crypto.decrypt_failed`. */
export function eciesDecrypt(secretKey: Uint8Array, ciphertext: Uint8Array, context: Uint8Array): Uint8Array {
  const sk = decodeEncryptionSecretKey(secretKey);
  const recipient = P256.encodePoint(P256.base.multiply(sk));
  return eciesDecryptWithSharedPoint(eciesEphemeralKey(ciphertext).multiply(sk), recipient, ciphertext, context);
}

/** The P-256 public key (33 bytes compressed) of an encryption secret key. */
export function encryptionPublicKey(secretKey: Uint8Array): Uint8Array {
  return P256.encodePoint(P256.base.multiply(decodeEncryptionSecretKey(secretKey)));
}
