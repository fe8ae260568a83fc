import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { HEX_BYTES, signBodySchema } from '../common/api-schemas.ts';
import { concatBytes, toHex } from '../common/bytes.ts';
import { CustosError, HsmError } from '../common/errors.ts';

/**
 * The schemes the legacy single-key signer (legacy-signer.ts) serves, and all that differs
 * between them at its front door: what a sign request carries, how the key signs it, what the
 * answer holds and how it is kept in the request log. Everything else (idempotency, the durable
 * request log, problem+json) is one flow for both.
 *   ed25519          pure Ed25519 (RFC 8032 §5.1.6) of a message; the baseline of FROST(Ed25519)
 *   ecdsa-secp256k1  ECDSA (SEC 1 §4.1.3) of a 32-byte digest, low-s, with its recovery id; the
 *                    baseline of DKLs23, answering in the shape the threshold route does
 */
export const LEGACY_SCHEMES = ['ed25519', 'ecdsa-secp256k1'] as const;
export type LegacyScheme = (typeof LEGACY_SCHEMES)[number];
export const DEFAULT_LEGACY_SCHEME: LegacyScheme = 'ed25519';

export function isLegacyScheme(s: unknown): s is LegacyScheme {
  return typeof s === 'string' && (LEGACY_SCHEMES as readonly string[]).includes(s);
}

/** One Ed25519 key, synchronous signing (hsm/pkcs11-ed25519.ts fits). No `scheme`: Ed25519, as before schemes existed. */
export type Ed25519KeySigner = {
  readonly scheme?: 'ed25519';
  readonly keyId: string;
  /** 32 bytes, RFC 8032. */
  publicKey(): Uint8Array;
  /** 64 bytes R ‖ S. */
  sign(message: Uint8Array): Uint8Array;
  healthy(): boolean;
};

/** One secp256k1 key, synchronous signing of digests (hsm/pkcs11-secp256k1.ts fits). */
export type Secp256k1KeySigner = {
  readonly scheme: 'ecdsa-secp256k1';
  readonly keyId: string;
  /** 33 bytes, compressed SEC 1. */
  publicKey(): Uint8Array;
  /** 64 bytes r ‖ s with s low, and the recovery id of that signature. */
  sign(digest: Uint8Array): { signature: Uint8Array; recoveryId: 0 | 1 };
  healthy(): boolean;
};

/** What the front door needs of its signer: one key of one scheme. */
export type SingleKeySigner = Ed25519KeySigner | Secp256k1KeySigner;

/** The 200 answer of the sign route, but for requestId; the ECDSA one has the shape of the coordinator's. */
export type SignAnswer = { signature: string; recoveryId?: 0 | 1; publicKey?: string; presigned?: boolean };

/** The scheme-specific half of the front door, built for one signer. */
export type SchemeDoor = {
  scheme: LegacyScheme;
  publicKey: Uint8Array;
  /** JSON schemas of the sign route's body and 200 answer, and of a key's publicKey field. */
  bodySchema: object;
  resultSchema: object;
  /** Signs the payload's bytes: the answer, and the text the request log keeps for it. */
  sign(bytes: Uint8Array): { answer: SignAnswer; stored: string };
  /** The answer again, from what sign() stored (an Idempotency-Key replay). */
  recall(stored: string): SignAnswer;
};

/**
 * POST /v1/keys/:id/sign of an ed25519 key: the message itself. The body has the coordinator's
 * shape (common/api-schemas.ts) but the legacy door narrows it rather than taking the coordinator's
 * schema, which grows with the threshold schemes (derivation paths, digests): one key has no path,
 * and Ed25519 signs messages only.
 */
export const messageSignBody = signBodySchema({
  type: { type: 'string', enum: ['message'] },
  hex: { ...HEX_BYTES, maxLength: 2 * 1024 * 1024, description: 'the message bytes to sign, hex' },
});

/**
 * The 200 answers are the coordinator's signResult narrowed to one scheme and made stricter (every
 * field the scheme answers with is required), so they are written out rather than shared;
 * test/compat/legacy-schemes.test.ts keeps them a narrowing of the coordinator's.
 */
export const ed25519SignResult = {
  type: 'object',
  required: ['requestId', 'signature'],
  properties: {
    requestId: { type: 'string' },
    signature: { type: 'string', description: 'hex: 64-byte Ed25519 signature R || S (RFC 8032)' },
  },
} as const;

/** POST /v1/keys/:id/sign of an ecdsa-secp256k1 key: one digest the caller computed. */
export const digestSignBody = signBodySchema({
  type: { type: 'string', enum: ['digest'] },
  hex: { type: 'string', pattern: '^[0-9a-fA-F]{64}$', description: 'the 32-byte digest to sign, hex; the caller hashes (Bitcoin sighash, Ethereum keccak256)' },
});

export const ecdsaSignResult = {
  type: 'object',
  required: ['requestId', 'signature', 'recoveryId', 'publicKey', 'presigned'],
  properties: {
    requestId: { type: 'string' },
    signature: { type: 'string', description: 'hex: 64 bytes r || s, s in the low half of the order' },
    recoveryId: { type: 'integer', enum: [0, 1], description: 'parity of R: which candidate key the signature recovers to' },
    publicKey: { type: 'string', description: 'hex: 33-byte compressed secp256k1 public key' },
    presigned: { type: 'boolean', description: 'whether a presignature was spent; never for the single-key signer' },
  },
} as const;

/**
 * A stored signature read back: ECDSA rows keep the 65-byte recoverable form r ‖ s ‖ recoveryId,
 * so that the request log holds the whole answer; Ed25519 rows the 64-byte signature.
 */
export function storedSignature(stored: string): { signature: string; recoveryId?: 0 | 1 } {
  if (stored.length !== 130) return { signature: stored };
  const v = stored.slice(128);
  if (v !== '00' && v !== '01') throw new CustosError('store.corrupt', 'a stored ECDSA signature has a recovery id other than 0 or 1');
  return { signature: stored.slice(0, 128), recoveryId: v === '00' ? 0 : 1 };
}

/**
 * The door for `signer`. `verify`: check every signature with @noble/curves before answering
 * (a single-key HSM signer trusts its HSM, so off by default; the secp256k1 signer already
 * recovers its key from each signature to find the recovery id).
 */
export function schemeDoor(signer: SingleKeySigner, verify: boolean): SchemeDoor {
  const publicKey = signer.publicKey();
  const refused = () => new HsmError('hsm.bad_signature', `the HSM returned a signature that does not verify under key ${signer.keyId}`);
  if (signer.scheme === 'ecdsa-secp256k1') {
    const pub = toHex(publicKey);
    const answer = (s: { signature: string; recoveryId?: 0 | 1 }): SignAnswer => ({ signature: s.signature, recoveryId: s.recoveryId, publicKey: pub, presigned: false });
    return {
      scheme: 'ecdsa-secp256k1', publicKey, bodySchema: digestSignBody, resultSchema: ecdsaSignResult,
      sign(digest) {
        const { signature, recoveryId } = signer.sign(digest);
        if (verify && !secp256k1.verify(signature, digest, publicKey, { prehash: false, lowS: true })) throw refused();
        return { answer: answer({ signature: toHex(signature), recoveryId }), stored: toHex(concatBytes(signature, Uint8Array.of(recoveryId))) };
      },
      recall(stored) {
        const s = storedSignature(stored);
        if (s.recoveryId === undefined) throw new CustosError('store.corrupt', 'a stored ECDSA signature lacks its recovery id');
        return answer(s);
      },
    };
  }
  return {
    scheme: 'ed25519', publicKey, bodySchema: messageSignBody, resultSchema: ed25519SignResult,
    sign(message) {
      const sig = signer.sign(message);
      if (verify && !ed25519.verify(sig, message, publicKey)) throw refused();
      const signature = toHex(sig);
      return { answer: { signature }, stored: signature };
    },
    recall: (stored) => ({ signature: stored }),
  };
}
