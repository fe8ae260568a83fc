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

/**
 * One key pair in a PKCS#11 token that signs with one mechanism: the single-key baseline custos is
 * compared with (ARCHITECTURE.md "Sealing and the HSM": the legacy path), one key, one HSM. The
 * Ed25519 and secp256k1 signers (pkcs11-ed25519.ts, pkcs11-secp256k1.ts) are this flow with their
 * curve and mechanisms as a SingleKeySpec, so that both open, check and recover the same way.
 *
 * The private key is generated in the token, sensitive and never extractable; it is found again
 * by its label on every open, and its attributes and curve are checked then too.
 * Synchronous, single-threaded, one RW session; one open signer per token per process
 * (PKCS#11 login state is per process), the module shared through acquireModule.
 */
export type SingleKeyConfig = TokenConfig & {
  /** CKA_LABEL of the key pair; each scheme has its default. */
  keyLabel?: string;
};

/** What differs between the single-key signers. */
export type SingleKeySpec = {
  /** The scheme as errors name the signer and its key pair: 'Ed25519', 'secp256k1'. */
  name: string;
  /** keyId is this prefix followed by hex(CKA_ID). */
  keyIdPrefix: string;
  defaultKeyLabel: string;
  /** CKA_KEY_TYPE of both halves. */
  keyType: number;
  /** How the pair is made when the token has none: mechanism and CKA_EC_PARAMS; name and what it makes, for errors. */
  generate: { mechanism: number; ecParams: Uint8Array; name: string; what: string };
  /** The signing mechanism; its output is 64 bytes on both curves. */
  sign: { mechanism: number; name: string };
  /** The curve's name for errors, its CKA_EC_PARAMS test, and CKA_EC_POINT to the public key the signer gives (checked on the curve). */
  curve: { name: string; is(ecParams: Uint8Array): boolean; publicKey(ecPoint: Uint8Array): Uint8Array };
};

/** The scheme's own part (what sign takes and answers, the self-test) is in the subclass. */
export abstract class Pkcs11SingleKeySigner {
  /** spec.keyIdPrefix + hex(CKA_ID of the key pair): stable for the key's life, not secret. */
  readonly keyId: string;
  readonly tokenLabel: string;
  readonly keyLabel: string;
  #spec: SingleKeySpec;
  #lease: ModuleLease;
  #slot: Handle;
  #session: Handle;
  #privateKey: Handle;
  #publicKey: Uint8Array;
  #closed = false;

  /**
   * Initializes the module (shared within the process), finds the token by label, logs in as
   * user and finds or generates the key pair; the subclass then signs once (selfTested).
   * Errors: hsm.module_missing, hsm.token_missing, hsm.mechanism_unsupported, hsm.pin_incorrect,
   * hsm.pin_locked, hsm.token_in_use, hsm.object_incomplete, hsm.key_policy, hsm.bad_public_key, …
   */
  protected constructor(config: SingleKeyConfig, spec: SingleKeySpec) {
    const { modulePath, tokenLabel, pin } = config;
    const keyLabel = config.keyLabel ?? spec.defaultKeyLabel;
    requireTokenConfig(tokenLabel, pin);
    if (typeof keyLabel !== 'string' || keyLabel === '' || utf8(keyLabel).length > 64) throw new HsmError('hsm.config', 'key label must be 1 to 64 bytes');
    const { lease, slot, session, checked: canGenerate } = openUserSession({ modulePath, tokenLabel, pin }, (lib, slot) => checkMechanisms(lib, slot, tokenLabel, spec));
    let pair;
    try {
      pair = findOrCreateKeyPair(new Token(lease.lib, session), keyLabel, canGenerate, tokenLabel, spec);
    } catch (e) {
      closeUserSession(lease, session);
      throw e;
    }
    this.keyId = spec.keyIdPrefix + toHex(pair.id);
    this.tokenLabel = tokenLabel;
    this.keyLabel = keyLabel;
    this.#spec = spec;
    this.#lease = lease;
    this.#slot = slot;
    this.#session = session;
    this.#privateKey = pair.privateKey;
    this.#publicKey = pair.publicKey;
  }

  /** The public key, in the encoding the scheme's verifiers take. */
  publicKey(): Uint8Array {
    this.requireOpen();
    return this.#publicKey.slice();
  }

  /** Whether the session is still open and logged in (a cheap probe for health checks). */
  healthy(): boolean {
    return !this.#closed && sessionLoggedIn(this.#lease.lib, this.#session);
  }

  /** Logs out, closes the session and gives the module back. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeUserSession(this.#lease, this.#session);
  }

  protected requireOpen(): void {
    if (this.#closed) throw new HsmError('hsm.closed', `${this.#spec.name} signer for token "${this.tokenLabel}" is closed`);
  }

  /** The mechanism's 64-byte answer for `data`, as the token gives it; the subclass checks its form. */
  protected signRaw(data: Uint8Array): Uint8Array {
    this.requireOpen();
    const lib = this.#lease.lib;
    const { mechanism, name } = this.#spec.sign;
    let sig: Buffer;
    try {
      lib.C_SignInit(this.#session, { mechanism }, this.#privateKey);
      sig = lib.C_Sign(this.#session, dataOf(data), Buffer.alloc(64));
    } catch (e) {
      // SoftHSM 2.6 leaves a failed single-part sign active (CKR_OPERATION_ACTIVE on every later
      // C_SignInit), so the session is replaced; the login carries over to the new one.
      this.#session = replaceSession(lib, this.#slot, this.#session);
      throw deviceError('sign', e);
    }
    if (sig.length !== 64) throw new HsmError('hsm.device_error', `${name} returned ${sig.length} bytes, expected 64`);
    return new Uint8Array(sig);
  }

  /**
   * The signer, once `verifies` (one signature checked by an independent verifier) holds: it
   * catches a private key paired with the wrong public object and a module whose mechanism is not
   * the standard one. Otherwise the signer is closed (it may have replaced its session; it knows
   * the current one) and the open fails with hsm.key_policy.
   */
  protected selfTested(verifies: () => boolean): this {
    try {
      if (!verifies()) {
        throw new HsmError('hsm.key_policy', `${this.#spec.name} key pair "${this.keyLabel}" of token "${this.tokenLabel}" does not produce signatures that verify under its public key`);
      }
      return this;
    } catch (e) {
      this.close();
      throw e;
    }
  }
}

/**
 * The bytes as pkcs11js hands them to the module, without copying. pkcs11js passes a NULL pointer
 * for a buffer with no backing store, which SoftHSM refuses (CKR_ARGUMENTS_BAD), yet the empty
 * message is valid Ed25519 input (RFC 8032 §7.1, TEST 1): it gets an empty view of real memory.
 */
function dataOf(data: Uint8Array): Buffer {
  if (data.byteLength === 0) return Buffer.alloc(1).subarray(0, 0);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Whether the token can sign with the mechanism (required) and generate the key pair (needed only to create the key). */
function checkMechanisms(lib: PKCS11, slot: Handle, tokenLabel: string, spec: SingleKeySpec): boolean {
  const can = mechanismSupport(lib, slot);
  if (!can(spec.sign.mechanism, pkcs11js.CKF_SIGN)) throw new HsmError('hsm.mechanism_unsupported', `token "${tokenLabel}" cannot sign with ${spec.sign.name}`);
  return can(spec.generate.mechanism, pkcs11js.CKF_GENERATE_KEY_PAIR);
}

function findOrCreateKeyPair(t: Token, label: string, canGenerate: boolean, tokenLabel: string, spec: SingleKeySpec): { privateKey: Handle; publicKey: Uint8Array; id: Uint8Array } {
  const { generate, curve } = spec;
  const { privateKey, publicKey } = findOrGenerateEcKeyPair(t, label, {
    keyType: spec.keyType,
    mechanism: generate.mechanism,
    ecParams: generate.ecParams,
    cannotGenerate: canGenerate ? undefined : () => new HsmError('hsm.mechanism_unsupported', `token "${tokenLabel}" cannot generate ${generate.what} (${generate.name})`),
  });
  t.requirePolicy(privateKey, label, [
    [pkcs11js.CKA_TOKEN, true, 'CKA_TOKEN'],
    [pkcs11js.CKA_PRIVATE, true, 'CKA_PRIVATE'],
    ...KEPT_IN_TOKEN,
    [pkcs11js.CKA_SIGN, true, 'CKA_SIGN'],
  ]);
  // The key type does not fix the curve: a P-256 key under the label would otherwise be used as if it were secp256k1.
  if (!curve.is(t.bytes(privateKey, pkcs11js.CKA_EC_PARAMS)) || !curve.is(t.bytes(publicKey, pkcs11js.CKA_EC_PARAMS))) {
    throw new HsmError('hsm.key_policy', `key pair "${label}" is not on ${curve.name}`);
  }
  const id = t.bytes(privateKey, pkcs11js.CKA_ID);
  if (id.length === 0) throw new HsmError('hsm.key_policy', `object "${label}" has no CKA_ID`);
  if (!equalBytes(id, t.bytes(publicKey, pkcs11js.CKA_ID))) throw new HsmError('hsm.key_policy', `the two halves of key pair "${label}" have different CKA_IDs`);
  return { privateKey, publicKey: curve.publicKey(t.bytes(publicKey, pkcs11js.CKA_EC_POINT)), id };
}
