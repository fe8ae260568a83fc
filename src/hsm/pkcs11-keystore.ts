import { randomBytes } from 'node:crypto';
import { endianness } from 'node:os';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import pkcs11js from 'pkcs11js';
import type { Handle, Mechanism, PKCS11, Template } from 'pkcs11js';
import { toHex, utf8, wipe } from '../common/bytes.ts';
import { HsmError } from '../common/errors.ts';
import type { Keystore, SealContext } from './keystore.ts';
import { ecPointToCompressed, isCurveParams, lowSCompact, P256, P256_EC_PARAMS } from './pkcs11-ec.ts';
import { call, deviceError, isAuthFailure } from './pkcs11-errors.ts';
import type { ModuleLease } from './pkcs11-module.ts';
import {
  CKA_ID_BYTES, closeUserSession, findOrGenerateEcKeyPair, KEPT_IN_TOKEN, openUserSession, requireMechanisms, requireTokenConfig, Token,
  type TokenConfig,
} from './pkcs11-token.ts';
import { findSoftHsmModule } from './softhsm.ts';
import { associatedData, decodeBlob, encodeBlob, GCM_IV_BYTES, GCM_TAG_BYTES, tamperedOrMoved, wrongToken } from './sealed-blob.ts';

export { resolvePin, type PinSource } from './pin.ts';

/**
 * The node's keystore in a PKCS#11 token (ARCHITECTURE.md "Sealing and the HSM"). The token holds,
 * found on every open and created on the first:
 *   <prefix>sealing-key     AES-256, generated in the token, sensitive and never extractable;
 *                           seals every secret the node stores (AES-GCM, sealed-blob.ts format)
 *   <prefix>identity        P-256 key pair generated in the token; signs protocol messages
 *   <prefix>encryption-key  CKO_DATA holding the sealed P-256 encryption scalar. The scalar is made
 *                           in software because ECIES and the DLEQ proof need it as a number in
 *                           the signer core; it exists in clear only inside withEncryptionKey.
 *
 * Synchronous, single-threaded: every call runs on the thread that opened it, on one RW session.
 * One open keystore per token per process (PKCS#11 login state is per process).
 */
export type Pkcs11KeystoreConfig = TokenConfig & {
  /** Prefix of the object labels; default 'custos-'. Lets several applications share a token. */
  objectLabelPrefix?: string;
};

const DEFAULT_PREFIX = 'custos-';
const APPLICATION = 'custos';
/** Context of the sealed encryption scalar; `party` is the token label. */
const ENCRYPTION_KEY_ID = 'node';

export class Pkcs11Keystore implements Keystore {
  /** 'p11-' + hex(CKA_ID of the sealing key): stable for the key's life, not secret. */
  readonly sealingKeyId: string;
  readonly tokenLabel: string;
  #lease: ModuleLease;
  #lib: PKCS11;
  #session: Handle;
  #aesKey: Handle;
  #identityKey: Handle;
  #identityPub: Uint8Array;
  #encryptionBlob: Uint8Array;
  #encryptionPub: Uint8Array;
  #closed = false;

  private constructor(s: OpenState) {
    this.tokenLabel = s.tokenLabel;
    this.sealingKeyId = s.sealingKeyId;
    this.#lease = s.lease;
    this.#lib = s.lease.lib;
    this.#session = s.session;
    this.#aesKey = s.aesKey;
    this.#identityKey = s.identityKey;
    this.#identityPub = s.identityPub;
    this.#encryptionBlob = new Uint8Array(0);
    this.#encryptionPub = new Uint8Array(0);
  }

  /**
   * Initializes the module (shared within the process), finds the token by label, logs in as
   * user and finds or creates the keystore's objects. Errors: hsm.module_missing,
   * hsm.token_missing, hsm.pin_incorrect, hsm.pin_locked, hsm.token_in_use, hsm.key_policy, …
   */
  static open(config: Pkcs11KeystoreConfig): Pkcs11Keystore {
    const { modulePath, tokenLabel, pin } = config;
    const prefix = config.objectLabelPrefix ?? DEFAULT_PREFIX;
    requireTokenConfig(tokenLabel, pin);
    if (typeof prefix !== 'string' || utf8(prefix).length > 64) throw new HsmError('hsm.config', 'object label prefix must be at most 64 bytes');
    const { lease, session } = openUserSession({ modulePath, tokenLabel, pin }, (lib, slot) => requireMechanisms(lib, slot, tokenLabel, REQUIRED_MECHANISMS));
    try {
      const t = new Token(lease.lib, session);
      const aes = findOrCreateSealingKey(t, prefix + 'sealing-key');
      const identity = findOrCreateIdentity(t, prefix + 'identity');
      const ks = new Pkcs11Keystore({
        lease, session, tokenLabel, aesKey: aes.handle, sealingKeyId: 'p11-' + toHex(aes.id),
        identityKey: identity.privateKey, identityPub: identity.publicKey,
      });
      ks.#loadEncryptionKey(t, prefix + 'encryption-key');
      ks.#selfTest();
      return ks;
    } catch (e) {
      closeUserSession(lease, session);
      throw e;
    }
  }

  seal(plaintext: Uint8Array, ctx: SealContext): Uint8Array {
    this.#live();
    if (!(plaintext instanceof Uint8Array)) throw new HsmError('hsm.config', 'seal expects bytes');
    const iv = new Uint8Array(randomBytes(GCM_IV_BYTES));
    const out = Buffer.alloc(plaintext.length + GCM_TAG_BYTES);
    const lib = this.#lib;
    const ct = call('seal', () => {
      lib.C_EncryptInit(this.#session, gcm(iv, associatedData(this.sealingKeyId, ctx)), this.#aesKey);
      // Single-part C_Encrypt rejects empty input (CKR_ARGUMENTS_BAD); C_EncryptFinal alone yields the tag.
      return plaintext.length === 0 ? lib.C_EncryptFinal(this.#session, out) : lib.C_Encrypt(this.#session, view(plaintext), out);
    });
    if (ct.length !== plaintext.length + GCM_TAG_BYTES) throw new HsmError('hsm.device_error', `AES-GCM returned ${ct.length} bytes for ${plaintext.length} bytes of plaintext`);
    return encodeBlob(this.sealingKeyId, iv, new Uint8Array(ct));
  }

  unseal(blob: Uint8Array, ctx: SealContext): Uint8Array {
    this.#live();
    const { sealingKeyId, iv, ciphertext } = decodeBlob(blob);
    if (sealingKeyId !== this.sealingKeyId) throw wrongToken(sealingKeyId, this.sealingKeyId);
    const lib = this.#lib;
    const out = Buffer.alloc(ciphertext.length);
    try {
      call('unseal', () => lib.C_DecryptInit(this.#session, gcm(iv, associatedData(this.sealingKeyId, ctx)), this.#aesKey));
      let pt: Buffer;
      try {
        pt = lib.C_Decrypt(this.#session, view(ciphertext), out);
      } catch (e) {
        if (isAuthFailure(e)) throw tamperedOrMoved(ctx);
        throw deviceError('unseal', e);
      }
      if (pt.length !== ciphertext.length - GCM_TAG_BYTES) throw new HsmError('hsm.device_error', `AES-GCM returned ${pt.length} bytes for ${ciphertext.length} bytes of ciphertext`);
      return new Uint8Array(pt);
    } finally {
      wipe(out);
    }
  }

  identityPublicKey(): Uint8Array {
    this.#live();
    return this.#identityPub.slice();
  }

  signIdentity(message: Uint8Array): Uint8Array {
    this.#live();
    const digest = sha256(message);
    const lib = this.#lib;
    const rs = call('signIdentity', () => {
      lib.C_SignInit(this.#session, { mechanism: pkcs11js.CKM_ECDSA }, this.#identityKey);
      return lib.C_Sign(this.#session, view(digest), Buffer.alloc(64));
    });
    return lowSCompact(new Uint8Array(rs), P256);
  }

  encryptionPublicKey(): Uint8Array {
    this.#live();
    return this.#encryptionPub.slice();
  }

  withEncryptionKey<T>(fn: (secretKey: Uint8Array) => T): T {
    this.#live();
    const sk = this.unseal(this.#encryptionBlob, this.#encryptionCtx());
    try { return fn(sk); } finally { wipe(sk); }
  }

  /** Logs out, closes the session and gives the module back (finalized when no keystore uses it). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeUserSession(this.#lease, this.#session);
  }

  #live(): void {
    if (this.#closed) throw new HsmError('hsm.closed', `keystore for token "${this.tokenLabel}" is closed`);
  }

  #encryptionCtx(): SealContext {
    return { keyId: ENCRYPTION_KEY_ID, party: this.tokenLabel, purpose: 'encryption-key' };
  }

  #loadEncryptionKey(t: Token, label: string): void {
    const template: Template = [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_APPLICATION, value: APPLICATION },
    ];
    let handle = t.findOne(template, label);
    if (handle === undefined) {
      const sk = p256.utils.randomSecretKey();
      try {
        const blob = this.seal(sk, this.#encryptionCtx());
        handle = call('C_CreateObject', () => t.lib.C_CreateObject(t.session, [
          ...template,
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_VALUE, value: Buffer.from(blob) },
        ]));
      } finally {
        wipe(sk);
      }
    }
    this.#encryptionBlob = t.bytes(handle, pkcs11js.CKA_VALUE);
    this.withEncryptionKey((sk) => {
      if (!p256.utils.isValidSecretKey(sk)) throw new HsmError('hsm.key_policy', `object "${label}" does not hold a valid P-256 scalar`);
      this.#encryptionPub = p256.getPublicKey(sk, true);
    });
  }

  /** One signature checked against the public key: catches a private key paired with the wrong public object. */
  #selfTest(): void {
    const msg = utf8('custos keystore self-test');
    if (!p256.verify(this.signIdentity(msg), sha256(msg), this.#identityPub, { prehash: false })) {
      throw new HsmError('hsm.key_policy', `identity key pair of token "${this.tokenLabel}" does not match`);
    }
  }
}

/**
 * Opens the node's keystore; `modulePath` defaults to the embedded SoftHSM2 (findSoftHsmModule).
 * For SoftHSM, SOFTHSM2_CONF must already name the node's conf (softhsm.ts useSoftHsmConf).
 */
export function openPkcs11Keystore(config: Omit<Pkcs11KeystoreConfig, 'modulePath'> & { modulePath?: string }): Pkcs11Keystore {
  return Pkcs11Keystore.open({ ...config, modulePath: config.modulePath ?? findSoftHsmModule() });
}

type OpenState = {
  lease: ModuleLease;
  session: Handle;
  tokenLabel: string;
  aesKey: Handle;
  sealingKeyId: string;
  identityKey: Handle;
  identityPub: Uint8Array;
};

const REQUIRED_MECHANISMS: [number, string][] = [
  [pkcs11js.CKM_AES_KEY_GEN, 'CKM_AES_KEY_GEN'],
  [pkcs11js.CKM_AES_GCM, 'CKM_AES_GCM'],
  [pkcs11js.CKM_EC_KEY_PAIR_GEN, 'CKM_EC_KEY_PAIR_GEN'],
  [pkcs11js.CKM_ECDSA, 'CKM_ECDSA'],
];

function findOrCreateSealingKey(t: Token, label: string): { handle: Handle; id: Uint8Array } {
  const template: Template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_LABEL, value: label },
  ];
  let handle = t.findOne(template, label);
  if (handle === undefined) {
    const id = randomBytes(CKA_ID_BYTES);
    handle = call('C_GenerateKey', () => t.lib.C_GenerateKey(t.session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      ...template,
      { type: pkcs11js.CKA_ID, value: id },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_WRAP, value: false },
      { type: pkcs11js.CKA_UNWRAP, value: false },
      { type: pkcs11js.CKA_SIGN, value: false },
      { type: pkcs11js.CKA_VERIFY, value: false },
      { type: pkcs11js.CKA_DERIVE, value: false },
    ]));
  }
  t.requirePolicy(handle, label, [
    [pkcs11js.CKA_TOKEN, true, 'CKA_TOKEN'],
    ...KEPT_IN_TOKEN,
    [pkcs11js.CKA_ENCRYPT, true, 'CKA_ENCRYPT'],
    [pkcs11js.CKA_DECRYPT, true, 'CKA_DECRYPT'],
  ]);
  const len = ulong(t.bytes(handle, pkcs11js.CKA_VALUE_LEN));
  if (len !== 32) throw new HsmError('hsm.key_policy', `object "${label}" is an AES key of ${len} bytes, expected 32`);
  const id = t.bytes(handle, pkcs11js.CKA_ID);
  if (id.length === 0) throw new HsmError('hsm.key_policy', `object "${label}" has no CKA_ID`);
  return { handle, id };
}

function findOrCreateIdentity(t: Token, label: string): { privateKey: Handle; publicKey: Uint8Array } {
  const { privateKey, publicKey } = findOrGenerateEcKeyPair(t, label, { keyType: pkcs11js.CKK_EC, mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN, ecParams: P256_EC_PARAMS });
  t.requirePolicy(privateKey, label, [
    [pkcs11js.CKA_TOKEN, true, 'CKA_TOKEN'],
    ...KEPT_IN_TOKEN,
    [pkcs11js.CKA_SIGN, true, 'CKA_SIGN'],
  ]);
  if (!isCurveParams(P256, t.bytes(privateKey, pkcs11js.CKA_EC_PARAMS)) || !isCurveParams(P256, t.bytes(publicKey, pkcs11js.CKA_EC_PARAMS))) {
    throw new HsmError('hsm.key_policy', `key pair "${label}" is not on P-256`);
  }
  return { privateKey, publicKey: ecPointToCompressed(t.bytes(publicKey, pkcs11js.CKA_EC_POINT), P256) };
}

function gcm(iv: Uint8Array, aad: Uint8Array): Mechanism {
  const parameter: pkcs11js.GcmParams = {
    type: pkcs11js.CK_PARAMS_AES_GCM,
    iv: Buffer.from(iv),
    aad: Buffer.from(aad),
    ivBits: GCM_IV_BYTES * 8,
    tagBits: GCM_TAG_BYTES * 8,
  };
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter };
}

/** A Buffer over the same memory (no copy of secret bytes). */
function view(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** CK_ULONG attribute value: native-endian, 4 or 8 bytes. */
function ulong(v: Uint8Array): number {
  const buf = view(v);
  const le = endianness() === 'LE';
  if (v.length === 8) return Number(le ? buf.readBigUInt64LE(0) : buf.readBigUInt64BE(0));
  if (v.length === 4) return le ? buf.readUInt32LE(0) : buf.readUInt32BE(0);
  throw new HsmError('hsm.device_error', `unexpected CK_ULONG of ${v.length} bytes`);
}
