import pkcs11js from 'pkcs11js';
import { HsmError } from '../common/errors.ts';

/**
 * Mapping of PKCS#11 return values (CKR_*) to custos HsmError codes. pkcs11js throws a
 * Pkcs11Error whose message is the CKR name and whose `code` is its value; it never carries
 * call arguments, so a PIN cannot reach an error through it.
 */

/** CKR value of a pkcs11js error, or undefined for anything else. */
export function ckrOf(e: unknown): number | undefined {
  return e instanceof pkcs11js.Pkcs11Error ? e.code : undefined;
}

/** PKCS#11 3.0 CKR_AEAD_DECRYPT_FAILED; pkcs11js (2.40 headers) has no constant for it. */
const CKR_AEAD_DECRYPT_FAILED = 0x35;

/**
 * What modules answer when AES-GCM authentication fails: the standard names, and
 * CKR_GENERAL_ERROR / CKR_FUNCTION_FAILED because SoftHSM 2.6 answers CKR_GENERAL_ERROR.
 */
const AUTH_FAILURE = new Set<number>([
  pkcs11js.CKR_ENCRYPTED_DATA_INVALID,
  pkcs11js.CKR_ENCRYPTED_DATA_LEN_RANGE,
  pkcs11js.CKR_GENERAL_ERROR,
  pkcs11js.CKR_FUNCTION_FAILED,
  CKR_AEAD_DECRYPT_FAILED,
]);

export function isAuthFailure(e: unknown): boolean {
  const code = ckrOf(e);
  return code !== undefined && AUTH_FAILURE.has(code);
}

/** C_Login failed: which custos error that is. Never mentions the PIN's value or length. */
export function loginFailure(e: unknown, tokenLabel: string): HsmError {
  const code = ckrOf(e);
  const t = `token "${tokenLabel}"`;
  switch (code) {
    case pkcs11js.CKR_PIN_INCORRECT:
    case pkcs11js.CKR_PIN_LEN_RANGE:
    case pkcs11js.CKR_PIN_INVALID:
      return new HsmError('hsm.pin_incorrect', `the user PIN was rejected by ${t}`, e);
    case pkcs11js.CKR_PIN_LOCKED:
      return pinLocked(tokenLabel, e);
    case pkcs11js.CKR_PIN_EXPIRED:
      return new HsmError('hsm.pin_expired', `the user PIN of ${t} has expired and must be changed`, e);
    case pkcs11js.CKR_USER_PIN_NOT_INITIALIZED:
      return new HsmError('hsm.token_uninitialized', `${t} has no user PIN set`, e);
    case pkcs11js.CKR_USER_ALREADY_LOGGED_IN:
    case pkcs11js.CKR_USER_ANOTHER_ALREADY_LOGGED_IN:
      // The module did not check our PIN; refusing is the only safe answer.
      return new HsmError('hsm.token_in_use', `${t} is already logged in by other code in this process`, e);
    default:
      return deviceError(`login to ${t}`, e);
  }
}

export function pinLocked(tokenLabel: string, cause?: unknown): HsmError {
  return new HsmError('hsm.pin_locked', `the user PIN of token "${tokenLabel}" is locked (too many failed logins); the security officer must reset it`, cause);
}

/** Any other PKCS#11 failure; the message names the operation and the CKR value only. */
export function deviceError(operation: string, e: unknown): HsmError {
  const name = e instanceof pkcs11js.Pkcs11Error ? e.message : 'unexpected error';
  return new HsmError('hsm.device_error', `PKCS#11 ${operation} failed: ${name}`, e);
}

/** Runs a PKCS#11 call; failures become hsm.device_error naming the operation and CKR value. */
export function call<T>(operation: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof HsmError) throw e;
    throw deviceError(operation, e);
  }
}
