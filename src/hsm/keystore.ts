/**
 * What a node needs from its HSM. One implementation talks PKCS#11 (pkcs11-keystore.ts); the
 * software one (software-keystore.ts) exists for unit tests only. All calls are synchronous and
 * made from one thread.
 */

/** Associated data bound into every sealed blob: a blob sealed for one (key, party, purpose)
 * cannot be opened as another. `keyId` is the threshold key id (or a pool/session id). */
export type SealContext = {
  keyId: string;
  party: string;
  purpose: SealPurpose;
};

export type SealPurpose = 'key-share' | 'frost-nonce' | 'dkg-secret' | 'encryption-key' | 'presignature' | 'dkls-setup' | 'presign-state' | 'test';

export interface Keystore {
  /** Identifier of the sealing key (stable for the token's life); appears in every blob header. */
  readonly sealingKeyId: string;
  /** AES-256-GCM under the token's non-extractable sealing key. Returns a self-describing blob. */
  seal(plaintext: Uint8Array, ctx: SealContext): Uint8Array;
  /** Opens a blob sealed with `seal` under the same context. Throws HsmError code
   * `hsm.seal_invalid` when the blob was tampered with, or sealed for another key/party/purpose,
   * or by another token. */
  unseal(blob: Uint8Array, ctx: SealContext): Uint8Array;
  /** The node's identity key (P-256), compressed SEC1 (33 bytes). */
  identityPublicKey(): Uint8Array;
  /** ECDSA P-256 over SHA-256(message) with the identity key; 64-byte r||s, low-s normalised. */
  signIdentity(message: Uint8Array): Uint8Array;
  /** The node's encryption public key (P-256, compressed, 33 bytes) for DKG share encryption. */
  encryptionPublicKey(): Uint8Array;
  /** Lends the encryption private scalar (32 bytes) to `fn` and wipes it afterwards. */
  withEncryptionKey<T>(fn: (secretKey: Uint8Array) => T): T;
  close(): void;
}
