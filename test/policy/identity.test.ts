import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../../src/common/bytes.ts';
import { approvalDigest, parseIdentity, requestDigest, requireRole, verifyBy, type Identity } from '../../src/policy/identity.ts';

/** Identities sign canonical digests; verified with keys and signatures made by @noble/curves. */
const pSk = p256.utils.randomSecretKey();
const eSk = ed25519.utils.randomSecretKey();
const alice: Identity = parseIdentity({ id: 'alice@treasury', roles: ['initiator'], alg: 'p256', publicKey: toHex(p256.getPublicKey(pSk, true)) });
const bob: Identity = parseIdentity({ id: 'bob', roles: ['approver', 'auditor'], alg: 'ed25519', publicKey: toHex(ed25519.getPublicKey(eSk)) });
const request = { keyId: 'k1', requestId: 'r1', payload: { type: 'digest', hex: 'ab'.repeat(32) }, derivationPath: 'm/0' };

test('a P-256 initiator signature over the canonical request digest verifies; any change to the request does not', () => {
  const d = requestDigest(request);
  const sig = toHex(p256.sign(sha256(d), pSk, { prehash: false, lowS: true }));
  assert.ok(verifyBy(alice, d, sig));
  // Key order does not matter (canonical JSON); content does.
  assert.ok(verifyBy(alice, requestDigest({ derivationPath: 'm/0', payload: { hex: 'ab'.repeat(32), type: 'digest' }, requestId: 'r1', keyId: 'k1' }), sig));
  assert.ok(!verifyBy(alice, requestDigest({ ...request, derivationPath: 'm/1' }), sig));
  // The high-s twin of a valid signature is refused (no malleated replays).
  const s = p256.Signature.fromBytes(Buffer.from(sig, 'hex'), 'compact');
  const high = new p256.Signature(s.r, p256.Point.Fn.neg(s.s)).toBytes('compact');
  assert.ok(!verifyBy(alice, d, toHex(high)));
});

test('an Ed25519 approval over the approval digest verifies, bound to request, approver, decision and expiry', () => {
  const a = { requestDigest: toHex(requestDigest(request)), approver: 'bob', decision: 'approve' as const, expiresAt: '2026-12-01T00:00:00Z' };
  const sig = toHex(ed25519.sign(approvalDigest(a), eSk));
  assert.ok(verifyBy(bob, approvalDigest(a), sig));
  for (const changed of [{ ...a, decision: 'reject' as const }, { ...a, expiresAt: '2027-01-01T00:00:00Z' }, { ...a, approver: 'alice@treasury' }, { ...a, requestDigest: '00'.repeat(32) }]) {
    assert.ok(!verifyBy(bob, approvalDigest(changed), sig));
  }
  assert.ok(!verifyBy(alice, approvalDigest(a), sig), 'another identity\'s key does not verify it');
  assert.ok(!verifyBy(bob, approvalDigest(a), 'zz'), 'malformed signatures are false, not errors');
});

test('roles are enforced and identities are parsed strictly', () => {
  assert.equal(requireRole([alice, bob], 'bob', 'approver').id, 'bob');
  assert.throws(() => requireRole([alice, bob], 'alice@treasury', 'approver'), (e: any) => e.code === 'identity.wrong_role');
  assert.throws(() => requireRole([alice, bob], 'mallory', 'initiator'), (e: any) => e.code === 'identity.unknown');
  const base = { id: 'x', roles: ['admin'], alg: 'p256', publicKey: alice.publicKey };
  for (const [v, path] of [
    [{ ...base, roles: [] }, '$.roles'], [{ ...base, roles: ['root'] }, '$.roles'], [{ ...base, alg: 'rsa' }, '$.alg'],
    [{ ...base, publicKey: '02' + 'ff'.repeat(32) }, '$.publicKey'], [{ ...base, alg: 'ed25519' }, '$.publicKey'], [{ ...base, extra: 1 }, '$'],
  ] as const) {
    assert.throws(() => parseIdentity(v), (e: any) => e.code === 'identity.invalid' && e.detail.path === path, JSON.stringify(v));
  }
});
