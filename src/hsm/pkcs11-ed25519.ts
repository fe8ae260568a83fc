import { ed25519 } from '@noble/curves/ed25519.js';
import pkcs11js from 'pkcs11js';
import type { Handle, PKCS11 } from 'pkcs11js';
import { equalBytes, toHex, utf8 } from '../common/bytes.ts';
import { HsmError } from '../common/errors.ts';
import { deviceError } from './pkcs11-errors.ts';
import type { ModuleLease } from './pkcs11-module.ts';
import {
  closeUserSession, findOrGenerateEcKeyPair, KEPT_IN_TOKEN, mechanismSupport, openSession, openUserSession, requireTokenConfig, Token,
  type TokenConfig,
} from './pkcs11-token.ts';
import { findSoftHsmModule } from './softhsm.ts';

/**
 * One Ed25519 key pair in a PKCS#11 token, signing with CKM_EDDSA (PKCS#11 3.0 §2.3.14, pure
 * Ed25519 of RFC 8032 §5.1.6 when no mechanism parameter is given). This is the single-key
 * baseline custos is compared with: the classic custody setup, one key, one HSM.
 *
 * The private key is generated in the token, sensitive and never extractable; it is found again
 * by its label on every open, and its attributes are checked then too.
 * Synchronous, single-threaded, one RW session; one open signer per token per process
 * (PKCS#11 login state is per process), the module shared through acquireModule.
 */
export type Pkcs11Ed25519Config = TokenConfig & {
  /** CKA_LABEL of the key pair; default 'legacy-ed25519'. */
  keyLabel?: string;
};

/** PKCS#11 3.0 values; pkcs11js 2.x carries the 2.40 headers only. */
export const CKK_EC_EDWARDS = 0x40;
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;

/** CKA_EC_PARAMS of Ed25519: DER OBJECT IDENTIFIER 1.3.101.112 (RFC 8410 id-Ed25519). */
export const ED25519_EC_PARAMS = Uint8Array.of(0x06, 0x03, 0x2b, 0x65, 0x70);
/** The same curve as a DER PrintableString "edwards25519" (PKCS#11 3.0 §2.3.5); SoftHSM 2.6 stores this form. */
export const ED25519_EC_PARAMS_PRINTABLE = Uint8Array.of(0x13, 0x0c, ...utf8('edwards25519'));

export const DEFAULT_ED25519_KEY_LABEL = 'legacy-ed25519';
const SELF_TEST_MESSAGE = utf8('custos ed25519 self-test');

export function isEd25519Params(ecParams: Uint8Array): boolean {
  return equalBytes(ecParams, ED25519_EC_PARAMS) || equalBytes(ecParams, ED25519_EC_PARAMS_PRINTABLE);
}

/**
 * CKA_EC_POINT of an Edwards key to the 32-byte RFC 8032 public key. PKCS#11 3.0 §2.3.5 makes it
 * the DER OCTET STRING around the encoded point (04 20 ‖ A); some modules give the bare 32 bytes,
 * so both are accepted. The encoding is checked to be a point of edwards25519.
 */
export function ed25519PointFromEcPoint(ecPoint: Uint8Array): Uint8Array {
  let raw = ecPoint;
  if (ecPoint.length === 34 && ecPoint[0] === 0x04 && ecPoint[1] === 0x20) raw = ecPoint.subarray(2);
  if (raw.length !== 32) throw new HsmError('hsm.bad_public_key', `CKA_EC_POINT is not an Ed25519 public key (${ecPoint.length} bytes)`);
  try {
    ed25519.Point.fromBytes(raw);
  } catch (e) {
    throw new HsmError('hsm.bad_public_key', 'CKA_EC_POINT is not a point of edwards25519', e);
  }
  return raw.slice();
}

export class Pkcs11Ed25519Signer {
  /** 'ed25519-' + hex(CKA_ID of the key pair): stable for the key's life, not secret. */
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
  static open(config: Pkcs11Ed25519Config): Pkcs11Ed25519Signer {
    const { modulePath, tokenLabel, pin } = config;
    const keyLabel = config.keyLabel ?? DEFAULT_ED25519_KEY_LABEL;
    requireTokenConfig(tokenLabel, pin);
    if (typeof keyLabel !== 'string' || keyLabel === '' || utf8(keyLabel).length > 64) throw new HsmError('hsm.config', 'key label must be 1 to 64 bytes');
    const { lease, slot, session, checked: canGenerate } = openUserSession({ modulePath, tokenLabel, pin }, (lib, slot) => checkMechanisms(lib, slot, tokenLabel));
    let signer: Pkcs11Ed25519Signer | undefined;
    try {
      const pair = findOrCreateKeyPair(new Token(lease.lib, session), keyLabel, canGenerate, tokenLabel);
      signer = new Pkcs11Ed25519Signer({ lease, slot, session, tokenLabel, keyLabel, keyId: 'ed25519-' + toHex(pair.id), privateKey: pair.privateKey, publicKey: pair.publicKey });
      signer.#selfTest();
      return signer;
    } catch (e) {
      // The signer may have replaced its session; it knows the current one.
      if (signer !== undefined) signer.close();
      else closeUserSession(lease, session);
      throw e;
    }
  }

  /** The 32-byte RFC 8032 public key. */
  publicKey(): Uint8Array {
    this.#live();
    return this.#publicKey.slice();
  }

  /** Pure Ed25519 (RFC 8032 §5.1.6) of `message`, 64 bytes R ‖ S; deterministic. */
  sign(message: Uint8Array): Uint8Array {
    this.#live();
    if (!(message instanceof Uint8Array)) throw new HsmError('hsm.config', 'sign expects bytes');
    const lib = this.#lib;
    let sig: Buffer;
    try {
      lib.C_SignInit(this.#session, { mechanism: CKM_EDDSA }, this.#privateKey);
      sig = lib.C_Sign(this.#session, dataOf(message), Buffer.alloc(64));
    } catch (e) {
      // SoftHSM 2.6 leaves a failed single-part sign active (CKR_OPERATION_ACTIVE on every later
      // C_SignInit), so the session is replaced; the login carries over to the new one.
      this.#replaceSession();
      throw deviceError('sign', e);
    }
    if (sig.length !== 64) throw new HsmError('hsm.device_error', `CKM_EDDSA returned ${sig.length} bytes, expected 64`);
    return new Uint8Array(sig);
  }

  /** Whether the session is still open and logged in (a cheap probe for health checks). */
  healthy(): boolean {
    if (this.#closed) return false;
    try {
      const info = this.#lib.C_GetSessionInfo(this.#session);
      return info.state === CKS_RW_USER_FUNCTIONS;
    } catch {
      return false;
    }
  }

  /** Logs out, closes the session and gives the module back. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeUserSession(this.#lease, this.#session);
  }

  /** Opens a fresh session beside the current one (same logged-in application), then closes the old. */
  #replaceSession(): void {
    try {
      const fresh = openSession(this.#lib, this.#slot);
      try { this.#lib.C_CloseSession(this.#session); } catch { /* it is being abandoned */ }
      this.#session = fresh;
    } catch {
      // Nothing better to do: healthy() reports the state, and the next sign fails again.
    }
  }

  #live(): void {
    if (this.#closed) throw new HsmError('hsm.closed', `Ed25519 signer for token "${this.tokenLabel}" is closed`);
  }

  /** Catches a private key paired with the wrong public object, and a module whose EdDSA is not RFC 8032. */
  #selfTest(): void {
    if (!ed25519.verify(this.sign(SELF_TEST_MESSAGE), SELF_TEST_MESSAGE, this.#publicKey, { zip215: false })) {
      throw new HsmError('hsm.key_policy', `Ed25519 key pair "${this.keyLabel}" of token "${this.tokenLabel}" does not produce signatures that verify under its public key`);
    }
  }
}

/**
 * Opens the signer; `modulePath` defaults to the embedded SoftHSM2 (findSoftHsmModule).
 * For SoftHSM, SOFTHSM2_CONF must already name the right conf (softhsm.ts useSoftHsmConf).
 */
export function openPkcs11Ed25519(config: Omit<Pkcs11Ed25519Config, 'modulePath'> & { modulePath?: string }): Pkcs11Ed25519Signer {
  return Pkcs11Ed25519Signer.open({ ...config, modulePath: config.modulePath ?? findSoftHsmModule() });
}

/**
 * The message as pkcs11js hands it to the module, without copying. pkcs11js passes a NULL pointer
 * for a buffer with no backing store, which SoftHSM refuses (CKR_ARGUMENTS_BAD), yet the empty
 * message is valid Ed25519 input (RFC 8032 §7.1, TEST 1): it gets an empty view of real memory.
 */
function dataOf(message: Uint8Array): Buffer {
  if (message.byteLength === 0) return Buffer.alloc(1).subarray(0, 0);
  return Buffer.from(message.buffer, message.byteOffset, message.byteLength);
}

/** CKS_RW_USER_FUNCTIONS (PKCS#11 2.40 §5.7); not exported by pkcs11js. */
const CKS_RW_USER_FUNCTIONS = 3;

/** Whether the token can sign with CKM_EDDSA (required) and generate Edwards key pairs (needed only to create the key). */
function checkMechanisms(lib: PKCS11, slot: Handle, tokenLabel: string): boolean {
  const can = mechanismSupport(lib, slot);
  if (!can(CKM_EDDSA, pkcs11js.CKF_SIGN)) throw new HsmError('hsm.mechanism_unsupported', `token "${tokenLabel}" cannot sign with CKM_EDDSA`);
  return can(CKM_EC_EDWARDS_KEY_PAIR_GEN, pkcs11js.CKF_GENERATE_KEY_PAIR);
}

function findOrCreateKeyPair(t: Token, label: string, canGenerate: boolean, tokenLabel: string): { privateKey: Handle; publicKey: Uint8Array; id: Uint8Array } {
  const { privateKey, publicKey } = findOrGenerateEcKeyPair(t, label, {
    keyType: CKK_EC_EDWARDS,
    mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN,
    ecParams: ED25519_EC_PARAMS,
    cannotGenerate: canGenerate ? undefined : () => new HsmError('hsm.mechanism_unsupported', `token "${tokenLabel}" cannot generate Ed25519 keys (CKM_EC_EDWARDS_KEY_PAIR_GEN)`),
  });
  t.requirePolicy(privateKey, label, [
    [pkcs11js.CKA_TOKEN, true, 'CKA_TOKEN'],
    [pkcs11js.CKA_PRIVATE, true, 'CKA_PRIVATE'],
    ...KEPT_IN_TOKEN,
    [pkcs11js.CKA_SIGN, true, 'CKA_SIGN'],
  ]);
  if (!isEd25519Params(t.bytes(privateKey, pkcs11js.CKA_EC_PARAMS)) || !isEd25519Params(t.bytes(publicKey, pkcs11js.CKA_EC_PARAMS))) {
    throw new HsmError('hsm.key_policy', `key pair "${label}" is not on edwards25519`);
  }
  const id = t.bytes(privateKey, pkcs11js.CKA_ID);
  if (id.length === 0) throw new HsmError('hsm.key_policy', `object "${label}" has no CKA_ID`);
  if (!equalBytes(id, t.bytes(publicKey, pkcs11js.CKA_ID))) throw new HsmError('hsm.key_policy', `the two halves of key pair "${label}" have different CKA_IDs`);
  return { privateKey, publicKey: ed25519PointFromEcPoint(t.bytes(publicKey, pkcs11js.CKA_EC_POINT)), id };
}
