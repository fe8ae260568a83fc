import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import pkcs11js from 'pkcs11js';
import { utf8 } from '../../src/common/bytes.ts';
import {
  CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, DEFAULT_ED25519_KEY_LABEL, ED25519_EC_PARAMS,
  ed25519PointFromEcPoint, isEd25519Params, Pkcs11Ed25519Signer,
} from '../../src/hsm/pkcs11-ed25519.ts';
import { acquireModule } from '../../src/hsm/pkcs11-module.ts';
import { hsmError } from './hsm-error.ts';
import { signerSetup, singleKeySignerContract } from './single-key-contract.ts';

const open = (config: Parameters<typeof Pkcs11Ed25519Signer.open>[0]) => Pkcs11Ed25519Signer.open(config);

singleKeySignerContract({
  open,
  defaultKeyLabel: DEFAULT_ED25519_KEY_LABEL,
  keyType: CKK_EC_EDWARDS,
  isCurve: isEd25519Params,
  generate: { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN, ecParams: ED25519_EC_PARAMS },
  signs(s) {
    const msg = randomBytes(40);
    const sig = s.sign(msg);
    return (pub) => ed25519.verify(sig, msg, pub, { zip215: false });
  },
});

test('SoftHSM offers CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA (C_GetMechanismList)', (t) => {
  const { f } = signerSetup(t, ['ed'], open);
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
  const s = signerSetup(t, ['ed'], open).open('ed');
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

test('deterministic across a restart: the reopened key signs a message as before', (t) => {
  const { open: openSigner } = signerSetup(t, ['ed'], open);
  const msg = utf8('signed before the restart');
  const a = openSigner('ed');
  const sig = a.sign(msg);
  a.close();
  assert.deepEqual(openSigner('ed').sign(msg), sig);
});

test('sign takes bytes', (t) => {
  const s = signerSetup(t, ['ed'], open).open('ed');
  assert.throws(() => s.sign('ab' as unknown as Uint8Array), hsmError('hsm.config', 'expects bytes'));
  assert.equal(s.healthy(), true);
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
