import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import pkcs11js from 'pkcs11js';
import type { Handle, PKCS11 } from 'pkcs11js';
import { equalBytes, toHex, utf8 } from '../common/bytes.ts';
import { HsmError } from '../common/errors.ts';
import { deviceError } from './pkcs11-errors.ts';
import type { ModuleLease } from './pkcs11-module.ts';
import {
  closeUserSession, findOrGenerateEcKeyPair, KEPT_IN_TOKEN, mechanismSupport, openUserSession, replaceSession, requireTokenConfig,
  sessionLoggedIn, Token, type TokenConfig,
} from './pkcs11-token.ts';
import { findSoftHsmModule } from './softhsm.ts';

/**
 * One secp256k1 key pair in a PKCS#11 token, signing 32-byte digests with CKM_ECDSA (PKCS#11 2.40
 * §2.3.7). This is the single-key baseline threshold ECDSA (DKLs23) is compared with: the
 * classic custody setup, one key, one HSM (ARCHITECTURE.md "Sealing and the HSM": the legacy path).
 *
 * The private key is generated in the token, sensitive and never extractable; it is found again
 * by its label on every open, and its attributes and curve are checked then too.
 * Synchronous, single-threaded, one RW session; one open signer per token per process
 * (PKCS#11 login state is per process), the module shared through acquireModule.
 */
export type Pkcs11Secp256k1Config = TokenConfig & {
  /** CKA_LABEL of the key pair; default 'legacy-secp256k1'. */
  keyLabel?: string;
};

/** An ECDSA signature as Bitcoin and Ethereum take it. */
export type RecoverableSignature = {
  /** 64 bytes r ‖ s, s in the low half of the group order (BIP 62 / EIP-2), one valid encoding. */
  signature: Uint8Array;
  /** Which of the two candidate R points (even or odd y) the public key is recovered from (SEC 1 §4.1.6). */
  recoveryId: 0 | 1;
};

/** CKA_EC_PARAMS of secp256k1: DER OBJECT IDENTIFIER 1.3.132.0.10 (SEC 2 §2.4.1). */
export const SECP256K1_EC_PARAMS = Uint8Array.of(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a);

export const DEFAULT_SECP256K1_KEY_LABEL = 'legacy-secp256k1';
export const SECP256K1_DIGEST_BYTES = 32;
const SELF_TEST_DIGEST = sha256(utf8('custos secp256k1 self-test'));
const N = secp256k1.Point.Fn.ORDER;

export function isSecp256k1Params(ecParams: Uint8Array): boolean {
  return equalBytes(ecParams, SECP256K1_EC_PARAMS);
}

/**
 * CKA_EC_POINT to compressed SEC 1 (33 bytes). PKCS#11 2.40 §2.3.3 makes the value the DER OCTET
 * STRING around the uncompressed point (04 41 04 ‖ X ‖ Y); some modules give the bare point, so
 * both are accepted. The point is checked to lie on secp256k1.
 */
export function secp256k1PointFromEcPoint(ecPoint: Uint8Array): Uint8Array {
  let raw = ecPoint;
  if (ecPoint.length === 67 && ecPoint[0] === 0x04 && ecPoint[1] === 0x41) raw = ecPoint.subarray(2);
  if (raw.length !== 65 || raw[0] !== 0x04) throw new HsmError('hsm.bad_public_key', `CKA_EC_POINT is not an uncompressed secp256k1 point (${ecPoint.length} bytes)`);
  try {
    return secp256k1.Point.fromBytes(raw).toBytes(true);
  } catch (e) {
    throw new HsmError('hsm.bad_public_key', 'CKA_EC_POINT is not a point of secp256k1', e);
  }
}

/**
 * CKM_ECDSA output (r ‖ s) to low-s with its recovery id: the id is the one of 0 and 1 whose
 * recovery gives `publicKey` back. Recovering the key checks the signature too, so a token that
 * signed with another key, or wrongly, is caught here (hsm.bad_signature). Ids 2 and 3 (r ≥ n
 * after reduction, probability about 2^-128) are not offered: such a signature is refused too.
 */
export function recoverableLowS(rs: Uint8Array, digest: Uint8Array, publicKey: Uint8Array): RecoverableSignature {
  if (rs.length !== 64) throw new HsmError('hsm.device_error', `CKM_ECDSA returned ${rs.length} bytes, expected 64`);
  let sig;
  try {
    sig = secp256k1.Signature.fromBytes(rs, 'compact');
  } catch (e) {
    throw new HsmError('hsm.bad_signature', 'CKM_ECDSA returned r or s outside 1..n-1', e);
  }
  // s and n - s both verify; the recovery id below is computed for the normalised one.
  if (sig.hasHighS()) sig = new secp256k1.Signature(sig.r, N - sig.s);
  const want = secp256k1.Point.fromBytes(publicKey);
  for (const recoveryId of [0, 1] as const) {
    let q;
    try {
      q = sig.addRecoveryBit(recoveryId).recoverPublicKey(digest);
    } catch {
      continue; // no point with this x and parity, or the point at infinity: not this id
    }
    if (q.equals(want)) return { signature: sig.toBytes('compact'), recoveryId };
  }
  throw new HsmError('hsm.bad_signature', 'the HSM returned an ECDSA signature that does not recover to its public key');
}

export class Pkcs11Secp256k1Signer {
  readonly scheme = 'ecdsa-secp256k1';
  /** 'secp256k1-' + hex(CKA_ID of the key pair): stable for the key's life, not secret. */
  readonly keyId: string;
  readonly tokenLabel: string;
  readonly keyLabel: string;
  #lease: ModuleLease;
  #lib: PKCS11;
  #slot: Handle;
  #session: Handle;
  #privateKey: Handle;
  #publicKey: Uint8Array;
  #closed = false;

  private constructor(s: { lease: ModuleLease; slot: Handle; session: Handle; tokenLabel: string; keyLabel: string; keyId: string; privateKey: Handle; publicKey: Uint8Array }) {
    this.keyId = s.keyId;
    this.tokenLabel = s.tokenLabel;
    this.keyLabel = s.keyLabel;
    this.#lease = s.lease;
    this.#lib = s.lease.lib;
    this.#slot = s.slot;
    this.#session = s.session;
    this.#privateKey = s.privateKey;
    this.#publicKey = s.publicKey;
  }

  /**
   * Initializes the module (shared within the process), finds the token by label, logs in as
   * user, finds or generates the key pair and signs once to check it. Errors: hsm.module_missing,
   * hsm.token_missing, hsm.mechanism_unsupported, hsm.pin_incorrect, hsm.pin_locked,
   * hsm.token_in_use, hsm.object_incomplete, hsm.key_policy, hsm.bad_public_key, …
   */
  static open(config: Pkcs11Secp256k1Config): Pkcs11Secp256k1Signer {
    const { modulePath, tokenLabel, pin } = config;
    const keyLabel = config.keyLabel ?? DEFAULT_SECP256K1_KEY_LABEL;
    requireTokenConfig(tokenLabel, pin);
    if (typeof keyLabel !== 'string' || keyLabel === '' || utf8(keyLabel).length > 64) throw new HsmError('hsm.config', 'key label must be 1 to 64 bytes');
    const { lease, slot, session, checked: canGenerate } = openUserSession({ modulePath, tokenLabel, pin }, (lib, slot) => checkMechanisms(lib, slot, tokenLabel));
    let signer: Pkcs11Secp256k1Signer | undefined;
    try {
      const pair = findOrCreateKeyPair(new Token(lease.lib, session), keyLabel, canGenerate, tokenLabel);
      signer = new Pkcs11Secp256k1Signer({ lease, slot, session, tokenLabel, keyLabel, keyId: 'secp256k1-' + toHex(pair.id), privateKey: pair.privateKey, publicKey: pair.publicKey });
      signer.#selfTest();
      return signer;
    } catch (e) {
      // The signer may have replaced its session; it knows the current one.
      if (signer !== undefined) signer.close();
      else closeUserSession(lease, session);
      throw e;
    }
  }

  /** The 33-byte compressed SEC 1 public key. */
  publicKey(): Uint8Array {
    this.#live();
    return this.#publicKey.slice();
  }

  /**
   * ECDSA over a 32-byte digest the caller computed (the module does no hashing), low-s, with the
   * recovery id. Not deterministic: the token draws the nonce.
   */
  sign(digest: Uint8Array): RecoverableSignature {
    this.#live();
    if (!(digest instanceof Uint8Array) || digest.length !== SECP256K1_DIGEST_BYTES) throw new HsmError('hsm.config', `sign expects a ${SECP256K1_DIGEST_BYTES}-byte digest`);
    const lib = this.#lib;
    let rs: Buffer;
    try {
      lib.C_SignInit(this.#session, { mechanism: pkcs11js.CKM_ECDSA }, this.#privateKey);
      rs = lib.C_Sign(this.#session, Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength), Buffer.alloc(64));
    } catch (e) {
      // SoftHSM 2.6 leaves a failed single-part sign active; the login carries over to the new session.
      this.#session = replaceSession(lib, this.#slot, this.#session);
      throw deviceError('sign', e);
    }
    return recoverableLowS(new Uint8Array(rs), digest, this.#publicKey);
  }

  /** Whether the session is still open and logged in (a cheap probe for health checks). */
  healthy(): boolean {
    return !this.#closed && sessionLoggedIn(this.#lib, this.#session);
  }

  /** Logs out, closes the session and gives the module back. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeUserSession(this.#lease, this.#session);
  }

  #live(): void {
    if (this.#closed) throw new HsmError('hsm.closed', `secp256k1 signer for token "${this.tokenLabel}" is closed`);
  }

  /**
   * Catches a private key paired with the wrong public object (sign() recovers the key) and a
   * module whose ECDSA is not SEC 1 over the digest as given (checked by an independent verifier).
   */
  #selfTest(): void {
    const { signature } = this.sign(SELF_TEST_DIGEST);
    if (!secp256k1.verify(signature, SELF_TEST_DIGEST, this.#publicKey, { prehash: false })) {
      throw new HsmError('hsm.key_policy', `secp256k1 key pair "${this.keyLabel}" of token "${this.tokenLabel}" does not produce signatures that verify under its public key`);
    }
  }
}

/**
 * Opens the signer; `modulePath` defaults to the embedded SoftHSM2 (findSoftHsmModule).
 * For SoftHSM, SOFTHSM2_CONF must already name the right conf (softhsm.ts useSoftHsmConf).
 */
export function openPkcs11Secp256k1(config: Omit<Pkcs11Secp256k1Config, 'modulePath'> & { modulePath?: string }): Pkcs11Secp256k1Signer {
  return Pkcs11Secp256k1Signer.open({ ...config, modulePath: config.modulePath ?? findSoftHsmModule() });
}

/** Whether the token can sign with CKM_ECDSA (required) and generate EC key pairs (needed only to create the key). */
function checkMechanisms(lib: PKCS11, slot: Handle, tokenLabel: string): boolean {
  const can = mechanismSupport(lib, slot);
  if (!can(pkcs11js.CKM_ECDSA, pkcs11js.CKF_SIGN)) throw new HsmError('hsm.mechanism_unsupported', `token "${tokenLabel}" cannot sign with CKM_ECDSA`);
  return can(pkcs11js.CKM_EC_KEY_PAIR_GEN, pkcs11js.CKF_GENERATE_KEY_PAIR);
}

function findOrCreateKeyPair(t: Token, label: string, canGenerate: boolean, tokenLabel: string): { privateKey: Handle; publicKey: Uint8Array; id: Uint8Array } {
  const { privateKey, publicKey } = findOrGenerateEcKeyPair(t, label, {
    keyType: pkcs11js.CKK_EC,
    mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN,
    ecParams: SECP256K1_EC_PARAMS,
    cannotGenerate: canGenerate ? undefined : () => new HsmError('hsm.mechanism_unsupported', `token "${tokenLabel}" cannot generate EC keys (CKM_EC_KEY_PAIR_GEN)`),
  });
  t.requirePolicy(privateKey, label, [
    [pkcs11js.CKA_TOKEN, true, 'CKA_TOKEN'],
    [pkcs11js.CKA_PRIVATE, true, 'CKA_PRIVATE'],
    ...KEPT_IN_TOKEN,
    [pkcs11js.CKA_SIGN, true, 'CKA_SIGN'],
  ]);
  // A P-256 key under the same label and type would otherwise be used as if it were secp256k1.
  if (!isSecp256k1Params(t.bytes(privateKey, pkcs11js.CKA_EC_PARAMS)) || !isSecp256k1Params(t.bytes(publicKey, pkcs11js.CKA_EC_PARAMS))) {
    throw new HsmError('hsm.key_policy', `key pair "${label}" is not on secp256k1`);
  }
  const id = t.bytes(privateKey, pkcs11js.CKA_ID);
  if (id.length === 0) throw new HsmError('hsm.key_policy', `object "${label}" has no CKA_ID`);
  if (!equalBytes(id, t.bytes(publicKey, pkcs11js.CKA_ID))) throw new HsmError('hsm.key_policy', `the two halves of key pair "${label}" have different CKA_IDs`);
  return { privateKey, publicKey: secp256k1PointFromEcPoint(t.bytes(publicKey, pkcs11js.CKA_EC_POINT)), id };
}
