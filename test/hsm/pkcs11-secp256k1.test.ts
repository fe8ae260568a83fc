import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import pkcs11js from 'pkcs11js';
import { utf8 } from '../../src/common/bytes.ts';
import { HsmError } from '../../src/common/errors.ts';
import { P256_EC_PARAMS } from '../../src/hsm/pkcs11-ec.ts';
import { Pkcs11Ed25519Signer } from '../../src/hsm/pkcs11-ed25519.ts';
import { acquireModule } from '../../src/hsm/pkcs11-module.ts';
import {
  DEFAULT_SECP256K1_KEY_LABEL, isSecp256k1Params, Pkcs11Secp256k1Signer, recoverableLowS, SECP256K1_EC_PARAMS, secp256k1PointFromEcPoint,
} from '../../src/hsm/pkcs11-secp256k1.ts';
import { findByLabel, softHsmFixture, withRawSession, type SoftHsmFixture } from './softhsm-fixture.ts';

const N = secp256k1.Point.Fn.ORDER;

function hsmError(code: string, messageIncludes?: string) {
  return (e: unknown) => {
    assert.ok(e instanceof HsmError, `expected HsmError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (messageIncludes !== undefined) assert.ok(e.message.includes(messageIncludes), e.message);
    return true;
  };
}

/** A fixture whose signers are closed before its directory is removed. */
function setup(t: TestContext, labels: string[]): { f: SoftHsmFixture; open: (label: string, opts?: { pin?: string; keyLabel?: string }) => Pkcs11Secp256k1Signer } {
  const opened: Pkcs11Secp256k1Signer[] = [];
  t.after(() => { for (const s of opened) s.close(); });
  const f = softHsmFixture(t, labels);
  return {
    f,
    open(label, opts = {}) {
      const s = Pkcs11Secp256k1Signer.open({ modulePath: f.modulePath, tokenLabel: label, pin: opts.pin ?? f.pins[label], keyLabel: opts.keyLabel });
      opened.push(s);
      return s;
    },
  };
}

/** The key the recovery id leads to, compressed; the test's own check of the signer's claim. */
function recovered(sig: Uint8Array, recoveryId: number, digest: Uint8Array): Uint8Array {
  return secp256k1.Signature.fromBytes(sig, 'compact').addRecoveryBit(recoveryId).recoverPublicKey(digest).toBytes(true);
}

const sBigint = (sig: Uint8Array) => secp256k1.Signature.fromBytes(sig, 'compact').s;

test('signatures are low-s ECDSA over the digest: they verify with @noble/curves (lowS enforced), only for their digest and key', (t) => {
  const { open } = setup(t, ['k1']);
  const s = open('k1');
  assert.equal(s.scheme, 'ecdsa-secp256k1');
  assert.match(s.keyId, /^secp256k1-[0-9a-f]{32}$/);
  const pub = s.publicKey();
  assert.equal(pub.length, 33);
  assert.ok(pub[0] === 2 || pub[0] === 3);
  const ids = new Set<number>();
  for (let i = 0; i < 40; i++) {
    const digest = i === 0 ? sha256(utf8('pay 1 BTC to bob')) : randomBytes(32);
    const { signature, recoveryId } = s.sign(digest);
    assert.equal(signature.length, 64);
    assert.ok(sBigint(signature) <= N >> 1n, 'low s');
    assert.ok(secp256k1.verify(signature, digest, pub, { prehash: false, lowS: true }));
    assert.deepEqual(recovered(signature, recoveryId, digest), pub, 'the recovery id leads to the key');
    assert.notDeepEqual(recovered(signature, 1 - recoveryId, digest), pub, 'and the other one does not');
    const other = digest.slice();
    other[31] ^= 1;
    assert.equal(secp256k1.verify(signature, other, pub, { prehash: false }), false, 'a changed digest must not verify');
    ids.add(recoveryId);
  }
  // Both ids occur with probability 1 - 2^-39: the id is computed, not a constant.
  assert.deepEqual([...ids].sort(), [0, 1]);
  // The token draws the nonce: two signatures of one digest differ, both valid.
  const d = randomBytes(32);
  const a = s.sign(d);
  const b = s.sign(d);
  assert.notDeepEqual(a.signature, b.signature);
  const stranger = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey());
  assert.equal(secp256k1.verify(a.signature, d, stranger, { prehash: false }), false);
});

test('sign takes exactly a 32-byte digest', (t) => {
  const { open } = setup(t, ['k1']);
  const s = open('k1');
  for (const bad of [new Uint8Array(0), new Uint8Array(31), new Uint8Array(33), utf8('a message, not a digest'), 'ab'.repeat(32) as unknown as Uint8Array]) {
    assert.throws(() => s.sign(bad), hsmError('hsm.config', '32-byte digest'));
  }
  assert.equal(s.healthy(), true);
});

test('recoverableLowS: a high-s answer is normalised and its id flips; a signature under another key is refused', () => {
  const sk = secp256k1.utils.randomSecretKey();
  const pub = secp256k1.getPublicKey(sk);
  const digest = randomBytes(32);
  const low = secp256k1.sign(digest, sk, { prehash: false, format: 'recovered' });
  const lowRid = low[0];
  const compact = low.subarray(1);
  const sig = secp256k1.Signature.fromBytes(compact, 'compact');
  const high = new secp256k1.Signature(sig.r, N - sig.s).toBytes('compact');
  assert.deepEqual(recoverableLowS(compact, digest, pub), { signature: compact, recoveryId: lowRid });
  assert.deepEqual(recoverableLowS(high, digest, pub), { signature: compact, recoveryId: lowRid }, 'n - s names the same R negated: same low-s result');
  const stranger = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey());
  assert.throws(() => recoverableLowS(compact, digest, stranger), hsmError('hsm.bad_signature'));
  assert.throws(() => recoverableLowS(compact, randomBytes(32), pub), hsmError('hsm.bad_signature'));
  assert.throws(() => recoverableLowS(compact.subarray(1), digest, pub), hsmError('hsm.device_error', '63 bytes'));
  assert.throws(() => recoverableLowS(new Uint8Array(64), digest, pub), hsmError('hsm.bad_signature', 'outside'));
});

test('the key persists: reopening finds the same key pair, old signatures still verify', (t) => {
  const { open } = setup(t, ['k1']);
  const a = open('k1');
  const id = a.keyId;
  const pub = a.publicKey();
  const digest = randomBytes(32);
  const before = a.sign(digest);
  a.close();
  const b = open('k1');
  assert.equal(b.keyId, id);
  assert.deepEqual(b.publicKey(), pub);
  assert.ok(secp256k1.verify(before.signature, digest, b.publicKey(), { prehash: false }));
  const after = b.sign(digest);
  assert.ok(secp256k1.verify(after.signature, digest, pub, { prehash: false }));
});

test('different tokens and key labels hold different keys; Ed25519 and secp256k1 keys share a token', (t) => {
  const { f, open } = setup(t, ['k1-a', 'k1-b']);
  const a = open('k1-a');
  const b = open('k1-b', { keyLabel: 'other-key' });
  assert.notEqual(a.keyId, b.keyId);
  assert.notDeepEqual(a.publicKey(), b.publicKey());
  assert.equal(a.keyLabel, DEFAULT_SECP256K1_KEY_LABEL);
  assert.equal(b.keyLabel, 'other-key');
  a.close();
  const ed = Pkcs11Ed25519Signer.open({ modulePath: f.modulePath, tokenLabel: 'k1-a', pin: f.pins['k1-a'] });
  const edPub = ed.publicKey();
  ed.close();
  const again = open('k1-a');
  assert.equal(again.keyId, a.keyId, 'the Ed25519 key beside it does not disturb the secp256k1 one');
  assert.equal(edPub.length, 32);
});

test('the private key in the token is private, sensitive, never extractable, an EC key on secp256k1', (t) => {
  const { f, open } = setup(t, ['k1']);
  open('k1').close();
  withRawSession(f, 'k1', (lib, session) => {
    const handles = findByLabel(lib, session, DEFAULT_SECP256K1_KEY_LABEL);
    assert.equal(handles.length, 2);
    const cls = (h: pkcs11js.Handle) => (lib.C_GetAttributeValue(session, h, [{ type: pkcs11js.CKA_CLASS }])[0].value as Buffer).readUInt32LE(0);
    const priv = handles.find((h) => cls(h) === pkcs11js.CKO_PRIVATE_KEY);
    const pubH = handles.find((h) => cls(h) === pkcs11js.CKO_PUBLIC_KEY);
    assert.ok(priv !== undefined && pubH !== undefined);
    const attr = (h: pkcs11js.Handle, type: number) => lib.C_GetAttributeValue(session, h, [{ type }])[0].value as Buffer;
    assert.equal(attr(priv, pkcs11js.CKA_KEY_TYPE).readUInt32LE(0), pkcs11js.CKK_EC);
    for (const [type, want] of [[pkcs11js.CKA_PRIVATE, 1], [pkcs11js.CKA_SENSITIVE, 1], [pkcs11js.CKA_ALWAYS_SENSITIVE, 1], [pkcs11js.CKA_EXTRACTABLE, 0], [pkcs11js.CKA_NEVER_EXTRACTABLE, 1], [pkcs11js.CKA_SIGN, 1], [pkcs11js.CKA_DERIVE, 0]] as const) {
      assert.equal(attr(priv, type)[0], want, `attribute 0x${type.toString(16)}`);
    }
    assert.deepEqual(new Uint8Array(attr(priv, pkcs11js.CKA_EC_PARAMS)), SECP256K1_EC_PARAMS);
    assert.deepEqual(new Uint8Array(attr(pubH, pkcs11js.CKA_EC_PARAMS)), SECP256K1_EC_PARAMS);
    assert.throws(() => lib.C_GetAttributeValue(session, priv, [{ type: pkcs11js.CKA_VALUE }]), (e: unknown) => e instanceof pkcs11js.Pkcs11Error && e.code === pkcs11js.CKR_ATTRIBUTE_SENSITIVE);
  });
});

test('a wrong PIN is refused without the PIN in the error; an unknown token is named', (t) => {
  const { f, open } = setup(t, ['k1']);
  const wrong = 'wrong-pin-value-123';
  assert.throws(() => open('k1', { pin: wrong }), (e: unknown) => {
    hsmError('hsm.pin_incorrect')(e);
    const err = e as HsmError;
    assert.ok(!JSON.stringify({ m: err.message, c: String(err.cause), s: err.stack }).includes(wrong));
    return true;
  });
  assert.throws(() => open('nope', { pin: f.pins.k1 }), hsmError('hsm.token_missing', '"k1"'));
  const s = open('k1');
  const d = randomBytes(32);
  assert.ok(secp256k1.verify(s.sign(d).signature, d, s.publicKey(), { prehash: false }));
});

test('one signer per token per process; a closed signer refuses to sign; close is idempotent; healthy() follows', (t) => {
  const { open } = setup(t, ['k1']);
  const s = open('k1');
  assert.throws(() => open('k1'), hsmError('hsm.token_in_use'));
  assert.equal(s.healthy(), true);
  s.close();
  s.close();
  assert.equal(s.healthy(), false);
  assert.throws(() => s.sign(randomBytes(32)), hsmError('hsm.closed'));
  assert.throws(() => s.publicKey(), hsmError('hsm.closed'));
});

test('a failed C_Sign does not leave the signer stuck (SoftHSM keeps the operation active)', (t) => {
  const { f, open } = setup(t, ['k1']);
  const s = open('k1');
  const lease = acquireModule(f.modulePath);
  const lib = lease.lib;
  const original = lib.C_Sign;
  const sync = original.bind(lib) as (session: pkcs11js.Handle, data: Buffer, out: Buffer) => Buffer;
  // pkcs11js hands SoftHSM a NULL pointer for a buffer without backing store: CKR_ARGUMENTS_BAD.
  lib.C_Sign = ((session: pkcs11js.Handle, _data: Buffer, out: Buffer) => sync(session, Buffer.alloc(0), out)) as typeof lib.C_Sign;
  try {
    assert.throws(() => s.sign(randomBytes(32)), hsmError('hsm.device_error', 'CKR_ARGUMENTS_BAD'));
  } finally {
    lib.C_Sign = original;
    lease.release();
  }
  assert.equal(s.healthy(), true);
  const d = randomBytes(32);
  assert.ok(secp256k1.verify(s.sign(d).signature, d, s.publicKey(), { prehash: false }));
});

test('only half a key pair in the token: hsm.object_incomplete', (t) => {
  const { f, open } = setup(t, ['k1']);
  open('k1').close();
  withRawSession(f, 'k1', (lib, session) => {
    const pub = findByLabel(lib, session, DEFAULT_SECP256K1_KEY_LABEL).find((h) => (lib.C_GetAttributeValue(session, h, [{ type: pkcs11js.CKA_CLASS }])[0].value as Buffer).readUInt32LE(0) === pkcs11js.CKO_PUBLIC_KEY);
    assert.ok(pub !== undefined);
    lib.C_DestroyObject(session, pub);
  });
  assert.throws(() => open('k1'), hsmError('hsm.object_incomplete', 'private half'));
});

/** Generates an EC key pair under the default label by hand, as someone other than custos might. */
function plant(f: SoftHsmFixture, label: string, ecParams: Uint8Array, priv: pkcs11js.Attribute[]): void {
  withRawSession(f, label, (lib, session) => {
    const common = [{ type: pkcs11js.CKA_LABEL, value: DEFAULT_SECP256K1_KEY_LABEL }, { type: pkcs11js.CKA_ID, value: Buffer.from('planted') }, { type: pkcs11js.CKA_TOKEN, value: true }];
    lib.C_GenerateKeyPair(session, { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN }, [...common, { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(ecParams) }], [...common, ...priv]);
  });
}

test('a planted extractable key under the label is refused (hsm.key_policy)', (t) => {
  const { f, open } = setup(t, ['k1']);
  plant(f, 'k1', SECP256K1_EC_PARAMS, [{ type: pkcs11js.CKA_PRIVATE, value: true }, { type: pkcs11js.CKA_SENSITIVE, value: false }, { type: pkcs11js.CKA_EXTRACTABLE, value: true }, { type: pkcs11js.CKA_SIGN, value: true }]);
  assert.throws(() => open('k1'), hsmError('hsm.key_policy', 'CKA_EXTRACTABLE should be false'));
});

test('a well-kept P-256 key under the label is refused: the curve is checked, not assumed (hsm.key_policy)', (t) => {
  const { f, open } = setup(t, ['k1']);
  plant(f, 'k1', P256_EC_PARAMS, [{ type: pkcs11js.CKA_PRIVATE, value: true }, { type: pkcs11js.CKA_SENSITIVE, value: true }, { type: pkcs11js.CKA_EXTRACTABLE, value: false }, { type: pkcs11js.CKA_SIGN, value: true }]);
  assert.throws(() => open('k1'), hsmError('hsm.key_policy', 'not on secp256k1'));
});

test('CKA_EC_POINT parsing: DER OCTET STRING or bare uncompressed point; anything else is refused', () => {
  const sk = secp256k1.utils.randomSecretKey();
  const full = secp256k1.getPublicKey(sk, false);
  const compressed = secp256k1.getPublicKey(sk, true);
  assert.deepEqual(secp256k1PointFromEcPoint(Uint8Array.of(0x04, 0x41, ...full)), compressed);
  assert.deepEqual(secp256k1PointFromEcPoint(full), compressed);
  assert.throws(() => secp256k1PointFromEcPoint(compressed), hsmError('hsm.bad_public_key'));
  assert.throws(() => secp256k1PointFromEcPoint(full.subarray(1)), hsmError('hsm.bad_public_key'));
  const off = full.slice();
  off[64] ^= 1;
  assert.throws(() => secp256k1PointFromEcPoint(off), hsmError('hsm.bad_public_key', 'not a point'));
  assert.equal(isSecp256k1Params(SECP256K1_EC_PARAMS), true);
  assert.equal(isSecp256k1Params(P256_EC_PARAMS), false);
});
