import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { Attribute, Handle, PKCS11, Template } from 'pkcs11js';
import { utf8 } from '../common/bytes.ts';
import { HsmError } from '../common/errors.ts';
import { call, loginFailure, pinLocked } from './pkcs11-errors.ts';
import { acquireModule, type ModuleLease } from './pkcs11-module.ts';

/**
 * The token plumbing that the keystore (pkcs11-keystore.ts) and the single-key signers
 * (pkcs11-single-key.ts) share: the token found by its label, one RW session
 * logged in as user, and the lookups, policy checks and key-pair generation on that session. One
 * lookup and one login path means one error mapping (pkcs11-errors.ts) for all of them.
 */

/** Length of the random CKA_ID given to the objects custos generates. */
export const CKA_ID_BYTES = 16;

/** Where the token is and how to log in to it: the part of the configuration every token user has. */
export type TokenConfig = {
  /** Path of the PKCS#11 module (.so), e.g. findSoftHsmModule() from softhsm.ts. */
  modulePath: string;
  /** Label of the token (the label in CK_TOKEN_INFO, at most 32 bytes). */
  tokenLabel: string;
  /** User PIN, resolved by the caller (resolvePin). Never logged, never in an error. */
  pin: string;
};

/** Checks what every token user is configured with, before the module is touched. */
export function requireTokenConfig(tokenLabel: string, pin: string): void {
  if (typeof tokenLabel !== 'string' || tokenLabel.trim() === '' || utf8(tokenLabel).length > 32) throw new HsmError('hsm.config', 'token label must be 1 to 32 bytes');
  if (typeof pin !== 'string' || pin === '') throw new HsmError('hsm.config', 'the HSM user PIN is empty');
}

/** A logged-in RW session on a token this process has claimed; end it with closeUserSession. */
export type UserSession<T> = {
  lease: ModuleLease;
  slot: Handle;
  session: Handle;
  /** What `checkSlot` returned. */
  checked: T;
};

/**
 * Initializes the module (shared within the process), finds the token by label, claims it,
 * runs `checkSlot` (the caller's mechanism requirements), opens an RW session and logs in as
 * user. On failure everything acquired is given back. Errors: hsm.module_missing,
 * hsm.token_missing, hsm.token_ambiguous, hsm.token_in_use, hsm.pin_incorrect, hsm.pin_locked, …
 */
export function openUserSession<T>(
  config: TokenConfig,
  checkSlot: (lib: PKCS11, slot: Handle) => T,
): UserSession<T> {
  const { modulePath, tokenLabel, pin } = config;
  const lease = acquireModule(modulePath);
  const lib = lease.lib;
  let session: Handle | undefined;
  try {
    const slot = findTokenSlot(lib, tokenLabel, modulePath);
    lease.claimToken(tokenLabel);
    const checked = checkSlot(lib, slot);
    session = openSession(lib, slot);
    login(lib, slot, session, tokenLabel, pin);
    return { lease, slot, session, checked };
  } catch (e) {
    if (session === undefined) lease.release();
    else closeUserSession(lease, session);
    throw e;
  }
}

/** Logs out, closes the session and gives the token and module back; never throws. */
export function closeUserSession(lease: ModuleLease, session: Handle): void {
  try { lease.lib.C_Logout(session); } catch { /* maybe never logged in; closing anyway */ }
  try { lease.lib.C_CloseSession(session); } catch { /* released below anyway */ }
  lease.release();
}

/** A new RW session; on a token already logged in it is logged in too (login state is per application and token). */
export function openSession(lib: PKCS11, slot: Handle): Handle {
  return call('C_OpenSession', () => lib.C_OpenSession(slot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION));
}

/** CKS_RW_USER_FUNCTIONS (PKCS#11 2.40 §5.7); not exported by pkcs11js. */
const CKS_RW_USER_FUNCTIONS = 3;

/** Whether `session` is still open and logged in as user (a cheap probe for health checks); never throws. */
export function sessionLoggedIn(lib: PKCS11, session: Handle): boolean {
  try {
    return lib.C_GetSessionInfo(session).state === CKS_RW_USER_FUNCTIONS;
  } catch {
    return false;
  }
}

/**
 * A fresh session beside `old` (same logged-in application, so the login carries over), with
 * `old` closed; `old` itself if no session can be opened (the next call fails again and
 * sessionLoggedIn reports it). For after a failed single-part C_Sign: SoftHSM 2.6 leaves the
 * operation active, so every later C_SignInit on that session fails with CKR_OPERATION_ACTIVE.
 */
export function replaceSession(lib: PKCS11, slot: Handle, old: Handle): Handle {
  let fresh: Handle;
  try {
    fresh = openSession(lib, slot);
  } catch {
    return old;
  }
  try { lib.C_CloseSession(old); } catch { /* it is being abandoned */ }
  return fresh;
}

/**
 * What the token can do: whether it offers mechanism `m` at all or, given `flag`, offers it with
 * that capability (CKF_SIGN, CKF_GENERATE_KEY_PAIR, …). The mechanism list is read once.
 */
export function mechanismSupport(lib: PKCS11, slot: Handle): (m: number, flag?: number) => boolean {
  const have = new Set(call('C_GetMechanismList', () => lib.C_GetMechanismList(slot)));
  return (m, flag) => have.has(m) && (flag === undefined || (call('C_GetMechanismInfo', () => lib.C_GetMechanismInfo(slot, m)).flags & flag) !== 0);
}

/** Throws hsm.mechanism_unsupported naming every mechanism of `required` the token does not offer. */
export function requireMechanisms(lib: PKCS11, slot: Handle, tokenLabel: string, required: readonly (readonly [number, string])[]): void {
  const can = mechanismSupport(lib, slot);
  const missing = required.filter(([m]) => !can(m)).map(([, name]) => name);
  if (missing.length > 0) throw new HsmError('hsm.mechanism_unsupported', `token "${tokenLabel}" lacks ${missing.join(', ')}`);
}

/** An attribute of a key and the value custos' key policy requires of it, with its name for the error. */
export type PolicyRule = readonly [type: number, want: boolean, name: string];

/** The secret never leaves the token and never has: the core of every key policy. */
export const KEPT_IN_TOKEN: readonly PolicyRule[] = [
  [pkcs11js.CKA_SENSITIVE, true, 'CKA_SENSITIVE'],
  [pkcs11js.CKA_ALWAYS_SENSITIVE, true, 'CKA_ALWAYS_SENSITIVE'],
  [pkcs11js.CKA_EXTRACTABLE, false, 'CKA_EXTRACTABLE'],
  [pkcs11js.CKA_NEVER_EXTRACTABLE, true, 'CKA_NEVER_EXTRACTABLE'],
];

/** Object search and attribute reads on one session. */
export class Token {
  readonly lib: PKCS11;
  readonly session: Handle;
  constructor(lib: PKCS11, session: Handle) {
    this.lib = lib;
    this.session = session;
  }

  find(template: Template): Handle[] {
    return call('C_FindObjects', () => {
      this.lib.C_FindObjectsInit(this.session, template);
      try { return this.lib.C_FindObjects(this.session, 8); } finally { this.lib.C_FindObjectsFinal(this.session); }
    });
  }

  /** The one object matching, or undefined; more than one is an error (ambiguous which to use). */
  findOne(template: Template, label: string): Handle | undefined {
    const found = this.find(template);
    if (found.length > 1) throw new HsmError('hsm.object_ambiguous', `the token holds ${found.length} objects labelled "${label}"; remove the extra ones`);
    return found[0];
  }

  bytes(handle: Handle, type: number): Uint8Array {
    const [a] = call('C_GetAttributeValue', () => this.lib.C_GetAttributeValue(this.session, handle, [{ type }]));
    return new Uint8Array(a.value);
  }

  bool(handle: Handle, type: number): boolean {
    const v = this.bytes(handle, type);
    return v.length === 1 && v[0] !== 0;
  }

  /**
   * Throws hsm.key_policy listing every rule the object breaks. Checked on every open, not only
   * at creation: a key put there by other means must not be trusted.
   */
  requirePolicy(handle: Handle, label: string, rules: readonly PolicyRule[]): void {
    const wrong = rules.filter(([type, want]) => this.bool(handle, type) !== want).map(([, want, name]) => `${name} should be ${want}`);
    if (wrong.length > 0) throw new HsmError('hsm.key_policy', `object "${label}" does not meet custos' key policy: ${wrong.join(', ')}`);
  }
}

/** How to make an elliptic-curve key pair when the token has none under the label. */
export type EcKeyPairSpec = {
  /** CKA_KEY_TYPE of both halves (CKK_EC for P-256 and secp256k1, CKK_EC_EDWARDS). */
  keyType: number;
  /** The key-pair generation mechanism. */
  mechanism: number;
  /** CKA_EC_PARAMS naming the curve. */
  ecParams: Uint8Array;
  /** Set when this token cannot generate the pair: the error to throw if it is missing. */
  cannotGenerate?: () => HsmError;
};

/**
 * The two halves of the key pair labelled `label`; when neither exists, generated in the token
 * under a random CKA_ID, the private half sensitive, never extractable and usable only to sign.
 * Only one half present is hsm.object_incomplete. The caller checks the policy and the curve.
 */
export function findOrGenerateEcKeyPair(t: Token, label: string, spec: EcKeyPairSpec): { privateKey: Handle; publicKey: Handle } {
  const template = (cls: number): Template => [
    { type: pkcs11js.CKA_CLASS, value: cls },
    { type: pkcs11js.CKA_KEY_TYPE, value: spec.keyType },
    { type: pkcs11js.CKA_LABEL, value: label },
  ];
  let privateKey = t.findOne(template(pkcs11js.CKO_PRIVATE_KEY), label);
  let publicKey = t.findOne(template(pkcs11js.CKO_PUBLIC_KEY), label);
  if (privateKey === undefined && publicKey === undefined) {
    if (spec.cannotGenerate !== undefined) throw spec.cannotGenerate();
    const common: Attribute[] = [
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_ID, value: randomBytes(CKA_ID_BYTES) },
      { type: pkcs11js.CKA_TOKEN, value: true },
    ];
    const pair = call('C_GenerateKeyPair', () => t.lib.C_GenerateKeyPair(t.session, { mechanism: spec.mechanism }, [
      ...common,
      { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(spec.ecParams) },
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
  return { privateKey, publicKey };
}

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
