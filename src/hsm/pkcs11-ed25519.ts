import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import pkcs11js from 'pkcs11js';
import type { Handle, PKCS11, Template } from 'pkcs11js';
import { equalBytes, toHex, utf8 } from '../common/bytes.ts';
import { HsmError } from '../common/errors.ts';
import { deviceError, loginFailure, pinLocked } from './pkcs11-errors.ts';
import { acquireModule, type ModuleLease } from './pkcs11-module.ts';
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
export type Pkcs11Ed25519Config = {
  /** Path of the PKCS#11 module (.so), e.g. findSoftHsmModule() from softhsm.ts. */
  modulePath: string;
  /** Label of the token (at most 32 bytes). */
  tokenLabel: string;
  /** User PIN, resolved by the caller (resolvePin). Never logged, never in an error. */
  pin: string;
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
const CKA_ID_BYTES = 16;
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
    if (typeof tokenLabel !== 'string' || tokenLabel.trim() === '' || utf8(tokenLabel).length > 32) throw new HsmError('hsm.config', 'token label must be 1 to 32 bytes');
    if (typeof pin !== 'string' || pin === '') throw new HsmError('hsm.config', 'the HSM user PIN is empty');
    if (typeof keyLabel !== 'string' || keyLabel === '' || utf8(keyLabel).length > 64) throw new HsmError('hsm.config', 'key label must be 1 to 64 bytes');
    const lease = acquireModule(modulePath);
    const lib = lease.lib;
    let session: Handle | undefined;
    let signer: Pkcs11Ed25519Signer | undefined;
    try {
      const slot = findTokenSlot(lib, tokenLabel, modulePath);
      lease.claimToken(tokenLabel);
      const canGenerate = checkMechanisms(lib, slot, tokenLabel);
      session = call('C_OpenSession', () => lib.C_OpenSession(slot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION));
      login(lib, slot, session, tokenLabel, pin);
      const pair = findOrCreateKeyPair(lib, session, keyLabel, canGenerate, tokenLabel);
      signer = new Pkcs11Ed25519Signer({ lease, slot, session, tokenLabel, keyLabel, keyId: 'ed25519-' + toHex(pair.id), privateKey: pair.privateKey, publicKey: pair.publicKey });
      signer.#selfTest();
      return signer;
    } catch (e) {
      // The signer may have replaced its session; it knows the current one.
      if (signer !== undefined) {
        signer.close();
        throw e;
      }
      if (session !== undefined) {
        try { lib.C_Logout(session); } catch { /* maybe never logged in */ }
        try { lib.C_CloseSession(session); } catch { /* released below anyway */ }
      }
      lease.release();
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
    try { this.#lib.C_Logout(this.#session); } catch { /* closing anyway */ }
    try { this.#lib.C_CloseSession(this.#session); } catch { /* idem */ }
    this.#lease.release();
  }

  /** Opens a fresh session beside the current one (same logged-in application), then closes the old. */
  #replaceSession(): void {
    try {
      const fresh = this.#lib.C_OpenSession(this.#slot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION);
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
  const have = new Set(call('C_GetMechanismList', () => lib.C_GetMechanismList(slot)));
  const can = (m: number, flag: number) => have.has(m) && (call('C_GetMechanismInfo', () => lib.C_GetMechanismInfo(slot, m)).flags & flag) !== 0;
  if (!can(CKM_EDDSA, pkcs11js.CKF_SIGN)) throw new HsmError('hsm.mechanism_unsupported', `token "${tokenLabel}" cannot sign with CKM_EDDSA`);
  return can(CKM_EC_EDWARDS_KEY_PAIR_GEN, pkcs11js.CKF_GENERATE_KEY_PAIR);
}

function findOrCreateKeyPair(lib: PKCS11, session: Handle, label: string, canGenerate: boolean, tokenLabel: string): { privateKey: Handle; publicKey: Uint8Array; id: Uint8Array } {
  const template = (cls: number): Template => [
    { type: pkcs11js.CKA_CLASS, value: cls },
    { type: pkcs11js.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
    { type: pkcs11js.CKA_LABEL, value: label },
  ];
  let privateKey = findOne(lib, session, template(pkcs11js.CKO_PRIVATE_KEY), label);
  let publicKey = findOne(lib, session, template(pkcs11js.CKO_PUBLIC_KEY), label);
  if (privateKey === undefined && publicKey === undefined) {
    if (!canGenerate) throw new HsmError('hsm.mechanism_unsupported', `token "${tokenLabel}" cannot generate Ed25519 keys (CKM_EC_EDWARDS_KEY_PAIR_GEN)`);
    const common = [
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_ID, value: randomBytes(CKA_ID_BYTES) },
      { type: pkcs11js.CKA_TOKEN, value: true },
    ];
    const pair = call('C_GenerateKeyPair', () => lib.C_GenerateKeyPair(session, { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN }, [
      ...common,
      { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(ED25519_EC_PARAMS) },
      { type: pkcs11js.CKA_PRIVATE, value: false },
      { type: pkcs11js.CKA_VERIFY, value: true },
    ], [
      ...common,
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_DERIVE, value: false },
    ]));
    privateKey = pair.privateKey;
    publicKey = pair.publicKey;
  }
  if (privateKey === undefined || publicKey === undefined) {
    throw new HsmError('hsm.object_incomplete', `the token holds only the ${privateKey === undefined ? 'public' : 'private'} half of the key pair "${label}"`);
  }
  // Checked on every open, not only at creation: a key put there by other means must not be trusted.
  const wrong = ([
    [pkcs11js.CKA_TOKEN, true, 'CKA_TOKEN'],
    [pkcs11js.CKA_PRIVATE, true, 'CKA_PRIVATE'],
    [pkcs11js.CKA_SENSITIVE, true, 'CKA_SENSITIVE'],
    [pkcs11js.CKA_ALWAYS_SENSITIVE, true, 'CKA_ALWAYS_SENSITIVE'],
    [pkcs11js.CKA_EXTRACTABLE, false, 'CKA_EXTRACTABLE'],
    [pkcs11js.CKA_NEVER_EXTRACTABLE, true, 'CKA_NEVER_EXTRACTABLE'],
    [pkcs11js.CKA_SIGN, true, 'CKA_SIGN'],
  ] as const).filter(([type, want]) => bool(lib, session, privateKey, type) !== want).map(([, want, name]) => `${name} should be ${want}`);
  if (wrong.length > 0) throw new HsmError('hsm.key_policy', `object "${label}" does not meet custos' key policy: ${wrong.join(', ')}`);
  if (!isEd25519Params(bytes(lib, session, privateKey, pkcs11js.CKA_EC_PARAMS)) || !isEd25519Params(bytes(lib, session, publicKey, pkcs11js.CKA_EC_PARAMS))) {
    throw new HsmError('hsm.key_policy', `key pair "${label}" is not on edwards25519`);
  }
  const id = bytes(lib, session, privateKey, pkcs11js.CKA_ID);
  if (id.length === 0) throw new HsmError('hsm.key_policy', `object "${label}" has no CKA_ID`);
  if (!equalBytes(id, bytes(lib, session, publicKey, pkcs11js.CKA_ID))) throw new HsmError('hsm.key_policy', `the two halves of key pair "${label}" have different CKA_IDs`);
  return { privateKey, publicKey: ed25519PointFromEcPoint(bytes(lib, session, publicKey, pkcs11js.CKA_EC_POINT)), id };
}

// The token plumbing below mirrors pkcs11-keystore.ts (same lookup, login and error mapping).

function findTokenSlot(lib: PKCS11, tokenLabel: string, modulePath: string): Handle {
  const slots = call('C_GetSlotList', () => lib.C_GetSlotList(true));
  const labels: string[] = [];
  const matches: Handle[] = [];
  for (const slot of slots) {
    const info = call('C_GetTokenInfo', () => lib.C_GetTokenInfo(slot));
    if ((info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0) continue;
    // Token labels are blank-padded to 32 bytes.
    const label = info.label.replace(/ +$/, '');
    labels.push(label);
    if (label === tokenLabel) matches.push(slot);
  }
  if (matches.length === 0) {
    const seen = labels.length === 0 ? 'no initialized tokens' : `tokens: ${labels.map((l) => JSON.stringify(l)).join(', ')}`;
    throw new HsmError('hsm.token_missing', `no token labelled "${tokenLabel}" in PKCS#11 module ${modulePath} (${seen})`);
  }
  if (matches.length > 1) throw new HsmError('hsm.token_ambiguous', `${matches.length} tokens are labelled "${tokenLabel}" in PKCS#11 module ${modulePath}`);
  return matches[0];
}

function login(lib: PKCS11, slot: Handle, session: Handle, tokenLabel: string, pin: string): void {
  // Checked first so that a locked token does not cost a further failed attempt.
  const flags = call('C_GetTokenInfo', () => lib.C_GetTokenInfo(slot)).flags;
  if ((flags & pkcs11js.CKF_USER_PIN_LOCKED) !== 0) throw pinLocked(tokenLabel);
  if ((flags & pkcs11js.CKF_USER_PIN_INITIALIZED) === 0) throw new HsmError('hsm.token_uninitialized', `token "${tokenLabel}" has no user PIN set`);
  try {
    lib.C_Login(session, pkcs11js.CKU_USER, pin);
  } catch (e) {
    throw loginFailure(e, tokenLabel);
  }
}

/** The one object matching, or undefined; more than one is an error (ambiguous which to use). */
function findOne(lib: PKCS11, session: Handle, template: Template, label: string): Handle | undefined {
  const found = call('C_FindObjects', () => {
    lib.C_FindObjectsInit(session, template);
    try { return lib.C_FindObjects(session, 8); } finally { lib.C_FindObjectsFinal(session); }
  });
  if (found.length > 1) throw new HsmError('hsm.object_ambiguous', `the token holds ${found.length} objects labelled "${label}"; remove the extra ones`);
  return found[0];
}

function bytes(lib: PKCS11, session: Handle, handle: Handle, type: number): Uint8Array {
  const [a] = call('C_GetAttributeValue', () => lib.C_GetAttributeValue(session, handle, [{ type }]));
  return new Uint8Array(a.value);
}

function bool(lib: PKCS11, session: Handle, handle: Handle, type: number): boolean {
  const v = bytes(lib, session, handle, type);
  return v.length === 1 && v[0] !== 0;
}

/** Runs a PKCS#11 call; failures become hsm.device_error naming the operation and CKR value. */
function call<T>(operation: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof HsmError) throw e;
    throw deviceError(operation, e);
  }
}
