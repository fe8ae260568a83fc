import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, wipe } from '../common/bytes.ts';
import type { Keystore, SealContext } from './keystore.ts';
import { associatedData, decodeBlob, encodeBlob, GCM_IV_BYTES, GCM_TAG_BYTES, tamperedOrMoved, wrongToken } from './sealed-blob.ts';

/**
 * FOR UNIT TESTS ONLY. Keeps every key in process memory; a node never uses it (the node refuses
 * to start without a PKCS#11 module). Same blob format and error behaviour as the PKCS#11 keystore.
 */
export class SoftwareKeystore implements Keystore {
  readonly sealingKeyId: string;
  #aesKey: Uint8Array;
  #identity: Uint8Array;
  #encryption: Uint8Array;

  constructor(seed?: { aesKey?: Uint8Array; identityKey?: Uint8Array; encryptionKey?: Uint8Array }) {
    this.#aesKey = seed?.aesKey ?? new Uint8Array(randomBytes(32));
    this.#identity = seed?.identityKey ?? p256.utils.randomSecretKey();
    this.#encryption = seed?.encryptionKey ?? p256.utils.randomSecretKey();
    this.sealingKeyId = 'soft-' + toHex(sha256(this.#aesKey)).slice(0, 16);
  }

  seal(plaintext: Uint8Array, ctx: SealContext): Uint8Array {
    const iv = randomBytes(GCM_IV_BYTES);
    const c = createCipheriv('aes-256-gcm', this.#aesKey, iv, { authTagLength: GCM_TAG_BYTES });
    c.setAAD(associatedData(this.sealingKeyId, ctx));
    const ct = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
    return encodeBlob(this.sealingKeyId, iv, ct);
  }

  unseal(blob: Uint8Array, ctx: SealContext): Uint8Array {
    const { sealingKeyId, iv, ciphertext } = decodeBlob(blob);
    if (sealingKeyId !== this.sealingKeyId) throw wrongToken(sealingKeyId, this.sealingKeyId);
    const d = createDecipheriv('aes-256-gcm', this.#aesKey, iv, { authTagLength: GCM_TAG_BYTES });
    d.setAAD(associatedData(this.sealingKeyId, ctx));
    d.setAuthTag(ciphertext.subarray(ciphertext.length - GCM_TAG_BYTES));
    try {
      return new Uint8Array(Buffer.concat([d.update(ciphertext.subarray(0, ciphertext.length - GCM_TAG_BYTES)), d.final()]));
    } catch {
      throw tamperedOrMoved(ctx);
    }
  }

  identityPublicKey(): Uint8Array {
    return p256.getPublicKey(this.#identity, true);
  }

  signIdentity(message: Uint8Array): Uint8Array {
    return p256.sign(sha256(message), this.#identity, { prehash: false, lowS: true });
  }

  encryptionPublicKey(): Uint8Array {
    return p256.getPublicKey(this.#encryption, true);
  }

  withEncryptionKey<T>(fn: (secretKey: Uint8Array) => T): T {
    const copy = this.#encryption.slice();
    try { return fn(copy); } finally { wipe(copy); }
  }

  close(): void {
    wipe(this.#aesKey, this.#identity, this.#encryption);
  }
}
