import { getGroup } from './group.ts';
import { DLEQ_PROOF_BYTES, proveDleq, verifyDleq } from './dleq.ts';
import { decodeEncryptionSecretKey, eciesDecryptWithSharedPoint, eciesEphemeralKey } from './ecies.ts';
import { secureRng, type Rng } from './random.ts';
import { transcriptBytes } from './transcript.ts';

/**
 * Verifiable decryption of one ECIES ciphertext (ecies.ts). The recipient reveals the ECDH point
 * S = sk·E of that ciphertext with a Chaum–Pedersen proof (dleq.ts) that S and its public key
 * PK = sk·G share the discrete log sk. Anyone can then check the proof and open that ciphertext,
 * and only that one (E is fresh per ciphertext, sk stays secret). This is how a DKG complaint
 * proves what the accused dealer really sent, so either the dealer or a false complainer is named.
 */
const P256 = getGroup('p256');
const PROOF_TAG = 'custos/ecies/decryption-proof/v1';

export const SHARED_POINT_BYTES = P256.pointBytes;
export const DECRYPTION_PROOF_BYTES = DLEQ_PROOF_BYTES;

/** The revealed ECDH point (33 bytes compressed) and the DLEQ proof (64 bytes). */
export type DecryptionProof = { shared: Uint8Array; proof: Uint8Array };

function proofContext(ciphertext: Uint8Array, context: Uint8Array): Uint8Array {
  return transcriptBytes(PROOF_TAG, [ciphertext, context]);
}

/** Reveals S for `ciphertext` with a proof that it is sk·E. Does not check that the ciphertext opens. */
export function proveDecryption(secretKey: Uint8Array, ciphertext: Uint8Array, context: Uint8Array, rng: Rng = secureRng): DecryptionProof {
  const sk = decodeEncryptionSecretKey(secretKey);
  const E = eciesEphemeralKey(ciphertext);
  const shared = P256.encodePoint(E.multiply(sk));
  return { shared, proof: proveDleq(P256, sk, E, proofContext(ciphertext, context), rng) };
}

/** True iff `shared` is proven to be sk·E for the ciphertext's E, where PK = sk·G is `recipient`. */
export function verifyDecryption(recipient: Uint8Array, ciphertext: Uint8Array, context: Uint8Array, revealed: DecryptionProof): boolean {
  try {
    const PK = P256.decodePoint(recipient, 'recipient encryption key');
    const E = eciesEphemeralKey(ciphertext);
    const S = P256.decodePoint(revealed.shared, 'shared point');
    return verifyDleq(P256, PK, E, S, revealed.proof, proofContext(ciphertext, context));
  } catch {
    return false;
  }
}

/**
 * Opens a ciphertext with a revealed S, after checking its proof. Returns undefined if the proof
 * does not verify (the revealer is at fault); throws CustosError `crypto.decrypt_failed` if the
 * proof holds but the ciphertext does not open (the encrypter is at fault).
 */
export function decryptWithProof(recipient: Uint8Array, ciphertext: Uint8Array, context: Uint8Array, revealed: DecryptionProof): Uint8Array | undefined {
  if (!verifyDecryption(recipient, ciphertext, context, revealed)) return undefined;
  return eciesDecryptWithSharedPoint(P256.decodePoint(revealed.shared, 'shared point'), recipient, ciphertext, context);
}
