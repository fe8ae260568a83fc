import assert from 'node:assert/strict';
import { test } from 'node:test';
import pkcs11js from 'pkcs11js';
import { deviceError, isAuthFailure, loginFailure } from '../../src/hsm/pkcs11-errors.ts';

// SoftHSM never locks a user PIN (it only raises CKF_USER_PIN_COUNT_LOW), so the lockout path
// is exercised here on the return values a hardware HSM gives.
function ckr(name: string): InstanceType<typeof pkcs11js.Pkcs11Error> {
  const value = (pkcs11js as unknown as Record<string, number>)[name];
  return new pkcs11js.Pkcs11Error(`${name}:${value}`, value, 'C_Login');
}

test('C_Login return values map to stable codes that name the token', () => {
  const cases: [string, string][] = [
    ['CKR_PIN_INCORRECT', 'hsm.pin_incorrect'],
    ['CKR_PIN_LEN_RANGE', 'hsm.pin_incorrect'],
    ['CKR_PIN_LOCKED', 'hsm.pin_locked'],
    ['CKR_PIN_EXPIRED', 'hsm.pin_expired'],
    ['CKR_USER_PIN_NOT_INITIALIZED', 'hsm.token_uninitialized'],
    ['CKR_USER_ALREADY_LOGGED_IN', 'hsm.token_in_use'],
    ['CKR_DEVICE_REMOVED', 'hsm.device_error'],
  ];
  for (const [name, code] of cases) {
    const e = loginFailure(ckr(name), 'node-7');
    assert.equal(e.code, code, name);
    assert.ok(e.message.includes('"node-7"'), e.message);
    assert.equal((e.cause as Error).message, name);
  }
});

test('AES-GCM authentication failures as modules report them', () => {
  assert.ok(isAuthFailure(ckr('CKR_ENCRYPTED_DATA_INVALID')));
  assert.ok(isAuthFailure(ckr('CKR_GENERAL_ERROR'))); // SoftHSM 2.6
  assert.ok(isAuthFailure(new pkcs11js.Pkcs11Error('CKR_AEAD_DECRYPT_FAILED:53', 0x35, 'C_Decrypt')));
  assert.ok(!isAuthFailure(ckr('CKR_SESSION_HANDLE_INVALID')));
  assert.ok(!isAuthFailure(new Error('CKR_GENERAL_ERROR:5')));
  assert.equal(deviceError('seal', ckr('CKR_SESSION_HANDLE_INVALID')).message, 'PKCS#11 seal failed: CKR_SESSION_HANDLE_INVALID');
});
