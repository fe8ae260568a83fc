import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import pkcs11js from 'pkcs11js';
import { utf8 } from '../../src/common/bytes.ts';
import { HsmError } from '../../src/common/errors.ts';
import {
  CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, DEFAULT_ED25519_KEY_LABEL, ED25519_EC_PARAMS,
  ed25519PointFromEcPoint, isEd25519Params, Pkcs11Ed25519Signer,
} from '../../src/hsm/pkcs11-ed25519.ts';
import { acquireModule } from '../../src/hsm/pkcs11-module.ts';
import { findByLabel, softHsmFixture, withRawSession, type SoftHsmFixture } from './softhsm-fixture.ts';

function hsmError(code: string, messageIncludes?: string) {
  return (e: unknown) => {
    assert.ok(e instanceof HsmError, `expected HsmError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (messageIncludes !== undefined) assert.ok(e.message.includes(messageIncludes), e.message);
    return true;
  };
}

/** A fixture whose signers are closed before its directory is removed. */
function setup(t: TestContext, labels: string[]): { f: SoftHsmFixture; open: (label: string, opts?: { pin?: string; keyLabel?: string }) => Pkcs11Ed25519Signer } {
  const opened: Pkcs11Ed25519Signer[] = [];
  t.after(() => { for (const s of opened) s.close(); });
  const f = softHsmFixture(t, labels);
  return {
    f,
    open(label, opts = {}) {
      const s = Pkcs11Ed25519Signer.open({ modulePath: f.modulePath, tokenLabel: label, pin: opts.pin ?? f.pins[label], keyLabel: opts.keyLabel });
      opened.push(s);
      return s;
    },
  };
}

test('SoftHSM offers CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA (C_GetMechanismList)', (t) => {
  const { f } = setup(t, ['ed']);
  const lease = acquireModule(f.modulePath);
  try {
    const lib = lease.lib;
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === 'ed');
    assert.ok(slot !== undefined);
    const mechs = lib.C_GetMechanismList(slot);
    assert.ok(mechs.includes(CKM_EC_EDWARDS_KEY_PAIR_GEN), 'CKM_EC_EDWARDS_KEY_PAIR_GEN missing');
    assert.ok(mechs.includes(CKM_EDDSA), 'CKM_EDDSA missing');
    assert.ok((lib.C_GetMechanismInfo(slot, CKM_EDDSA).flags & pkcs11js.CKF_SIGN) !== 0);
    assert.ok((lib.C_GetMechanismInfo(slot, CKM_EC_EDWARDS_KEY_PAIR_GEN).flags & pkcs11js.CKF_GENERATE_KEY_PAIR) !== 0);
  } finally {
    lease.release();
  }
});

test('signatures are RFC 8032 Ed25519: they verify with @noble/curves, strictly, and only for their message and key', (t) => {
  const { open } = setup(t, ['ed']);
  const s = open('ed');
  const pub = s.publicKey();
  assert.equal(pub.length, 32);
  assert.match(s.keyId, /^ed25519-[0-9a-f]{32}$/);
  for (const msg of [new Uint8Array(0), utf8('hello'), randomBytes(32), randomBytes(100_000)]) {
    const sig = s.sign(msg);
    assert.equal(sig.length, 64);
    assert.ok(ed25519.verify(sig, msg, pub), `length ${msg.length}`);
    assert.ok(ed25519.verify(sig, msg, pub, { zip215: false }), `strict, length ${msg.length}`);
    const other = msg.length === 0 ? Uint8Array.of(0) : msg.slice();
    if (msg.length > 0) other[0] ^= 1;
    assert.equal(ed25519.verify(sig, other, pub), false, 'a changed message must not verify');
  }
  // Deterministic (RFC 8032 §5.1.6): the nonce comes from the key and the message.
  const m = utf8('same message');
  assert.deepEqual(s.sign(m), s.sign(m));
  assert.notDeepEqual(s.sign(m), s.sign(utf8('other message')));
  const stranger = ed25519.getPublicKey(ed25519.utils.randomSecretKey());
  assert.equal(ed25519.verify(s.sign(m), m, stranger), false);
});

test('the key persists: reopening finds the same key pair, old signatures still verify', (t) => {
  const { open } = setup(t, ['ed']);
  const a = open('ed');
  const id = a.keyId;
  const pub = a.publicKey();
  const msg = utf8('signed before the restart');
  const sig = a.sign(msg);
  a.close();
  const b = open('ed');
  assert.equal(b.keyId, id);
  assert.deepEqual(b.publicKey(), pub);
  assert.deepEqual(b.sign(msg), sig);
  assert.ok(ed25519.verify(b.sign(utf8('after')), utf8('after'), pub));
});

test('different tokens and key labels hold different keys', (t) => {
  const { open } = setup(t, ['ed-a', 'ed-b']);
  const a = open('ed-a');
  const b = open('ed-b', { keyLabel: 'other-key' });
  assert.notEqual(a.keyId, b.keyId);
  assert.notDeepEqual(a.publicKey(), b.publicKey());
  assert.equal(a.keyLabel, DEFAULT_ED25519_KEY_LABEL);
  assert.equal(b.keyLabel, 'other-key');
});

test('the private key in the token is private, sensitive, never extractable, an Edwards key on Ed25519', (t) => {
  const { f, open } = setup(t, ['ed']);
  open('ed').close();
  withRawSession(f, 'ed', (lib, session) => {
    const handles = findByLabel(lib, session, DEFAULT_ED25519_KEY_LABEL);
    assert.equal(handles.length, 2);
    const cls = (h: pkcs11js.Handle) => lib.C_GetAttributeValue(session, h, [{ type: pkcs11js.CKA_CLASS }])[0].value as Buffer;
    const priv = handles.find((h) => cls(h).readUInt32LE(0) === pkcs11js.CKO_PRIVATE_KEY);
    assert.ok(priv !== undefined);
    const attr = (type: number) => lib.C_GetAttributeValue(session, priv, [{ type }])[0].value as Buffer;
    assert.equal(attr(pkcs11js.CKA_KEY_TYPE).readUInt32LE(0), CKK_EC_EDWARDS);
    for (const [type, want] of [[pkcs11js.CKA_PRIVATE, 1], [pkcs11js.CKA_SENSITIVE, 1], [pkcs11js.CKA_EXTRACTABLE, 0], [pkcs11js.CKA_NEVER_EXTRACTABLE, 1], [pkcs11js.CKA_SIGN, 1], [pkcs11js.CKA_DERIVE, 0]] as const) {
      assert.equal(attr(type)[0], want, `attribute 0x${type.toString(16)}`);
    }
    assert.ok(isEd25519Params(new Uint8Array(attr(pkcs11js.CKA_EC_PARAMS))));
    assert.throws(() => lib.C_GetAttributeValue(session, priv, [{ type: pkcs11js.CKA_VALUE }]), (e: unknown) => e instanceof pkcs11js.Pkcs11Error && e.code === pkcs11js.CKR_ATTRIBUTE_SENSITIVE);
  });
});

test('a wrong PIN is refused without the PIN in the error; an unknown token is named', (t) => {
  const { f, open } = setup(t, ['ed']);
  const wrong = 'wrong-pin-value-123';
  assert.throws(() => open('ed', { pin: wrong }), (e: unknown) => {
    hsmError('hsm.pin_incorrect')(e);
    const err = e as HsmError;
    assert.ok(!JSON.stringify({ m: err.message, c: String(err.cause), s: err.stack }).includes(wrong));
    return true;
  });
  assert.ok(!f.pins.ed.includes('wrong'));
  assert.throws(() => open('nope', { pin: f.pins.ed }), hsmError('hsm.token_missing', '"ed"'));
  // The failed attempts left the token usable.
  const s = open('ed');
  assert.ok(ed25519.verify(s.sign(utf8('x')), utf8('x'), s.publicKey()));
});

test('one signer per token per process: a second open is refused; the module is shared with a keystore', (t) => {
  const { f, open } = setup(t, ['ed', 'node-a']);
  const s = open('ed');
  assert.throws(() => open('ed'), hsmError('hsm.token_in_use'));
  const ks = f.open('node-a');
  assert.ok(ed25519.verify(s.sign(utf8('m')), utf8('m'), s.publicKey()));
  s.close();
  // The keystore still works on the shared module after the signer gave it back, and vice versa.
  assert.equal(ks.unseal(ks.seal(utf8('x'), { keyId: 'k', party: 'p', purpose: 'key-share' }), { keyId: 'k', party: 'p', purpose: 'key-share' }).length, 1);
  const again = open('ed');
  ks.close();
  assert.ok(ed25519.verify(again.sign(utf8('m')), utf8('m'), again.publicKey()));
});

test('a closed signer refuses to sign; close is idempotent; healthy() follows', (t) => {
  const { open } = setup(t, ['ed']);
  const s = open('ed');
  assert.equal(s.healthy(), true);
  s.close();
  s.close();
  assert.equal(s.healthy(), false);
  assert.throws(() => s.sign(utf8('m')), hsmError('hsm.closed'));
  assert.throws(() => s.publicKey(), hsmError('hsm.closed'));
});

test('a failed C_Sign does not leave the signer stuck (SoftHSM keeps the operation active)', (t) => {
  const { f, open } = setup(t, ['ed']);
  const s = open('ed');
  const lease = acquireModule(f.modulePath);
  const lib = lease.lib;
  const original = lib.C_Sign;
  // pkcs11js hands SoftHSM a NULL pointer for a buffer without backing store: CKR_ARGUMENTS_BAD.
  const sync = original.bind(lib) as (session: pkcs11js.Handle, data: Buffer, out: Buffer) => Buffer;
  lib.C_Sign = ((session: pkcs11js.Handle, _data: Buffer, out: Buffer) => sync(session, Buffer.alloc(0), out)) as typeof lib.C_Sign;
  try {
    assert.throws(() => s.sign(utf8('m')), hsmError('hsm.device_error', 'CKR_ARGUMENTS_BAD'));
  } finally {
    lib.C_Sign = original;
    lease.release();
  }
  assert.equal(s.healthy(), true);
  const sig = s.sign(utf8('m'));
  assert.ok(ed25519.verify(sig, utf8('m'), s.publicKey()));
});

test('only half a key pair in the token: hsm.object_incomplete', (t) => {
  const { f, open } = setup(t, ['ed']);
  open('ed').close();
  withRawSession(f, 'ed', (lib, session) => {
    const pub = findByLabel(lib, session, DEFAULT_ED25519_KEY_LABEL).find((h) => (lib.C_GetAttributeValue(session, h, [{ type: pkcs11js.CKA_CLASS }])[0].value as Buffer).readUInt32LE(0) === pkcs11js.CKO_PUBLIC_KEY);
    assert.ok(pub !== undefined);
    lib.C_DestroyObject(session, pub);
  });
  assert.throws(() => open('ed'), hsmError('hsm.object_incomplete', 'private half'));
});

test('a planted extractable key under the label is refused (hsm.key_policy)', (t) => {
  const { f, open } = setup(t, ['ed']);
  withRawSession(f, 'ed', (lib, session) => {
    const common = [{ type: pkcs11js.CKA_LABEL, value: DEFAULT_ED25519_KEY_LABEL }, { type: pkcs11js.CKA_ID, value: Buffer.from('planted') }, { type: pkcs11js.CKA_TOKEN, value: true }];
    lib.C_GenerateKeyPair(session, { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN }, [...common, { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(ED25519_EC_PARAMS) }], [
      ...common, { type: pkcs11js.CKA_PRIVATE, value: true }, { type: pkcs11js.CKA_SENSITIVE, value: false }, { type: pkcs11js.CKA_EXTRACTABLE, value: true }, { type: pkcs11js.CKA_SIGN, value: true },
    ]);
  });
  assert.throws(() => open('ed'), hsmError('hsm.key_policy', 'CKA_EXTRACTABLE should be false'));
});

test('CKA_EC_POINT parsing: DER OCTET STRING or bare 32 bytes; anything else is refused', () => {
  const pub = ed25519.getPublicKey(ed25519.utils.randomSecretKey());
  assert.deepEqual(ed25519PointFromEcPoint(Uint8Array.of(0x04, 0x20, ...pub)), pub);
  assert.deepEqual(ed25519PointFromEcPoint(pub), pub);
  assert.throws(() => ed25519PointFromEcPoint(Uint8Array.of(0x04, 0x21, ...pub, 0)), hsmError('hsm.bad_public_key'));
  assert.throws(() => ed25519PointFromEcPoint(pub.subarray(1)), hsmError('hsm.bad_public_key'));
  // About half of all y have no x on the curve: find one that is not a point.
  const notPoint = new Uint8Array(32);
  for (notPoint[0] = 2; ; notPoint[0]++) {
    try { ed25519.Point.fromBytes(notPoint); } catch { break; }
  }
  assert.throws(() => ed25519PointFromEcPoint(notPoint), hsmError('hsm.bad_public_key', 'not a point'));
  assert.equal(isEd25519Params(ED25519_EC_PARAMS), true);
  assert.equal(isEd25519Params(Uint8Array.of(0x13, 0x0c, ...utf8('edwards25519'))), true);
  assert.equal(isEd25519Params(Uint8Array.of(0x06, 0x03, 0x2b, 0x65, 0x71)), false, 'Ed448');
});
