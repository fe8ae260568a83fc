import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import pkcs11js from 'pkcs11js';
import { toHex, utf8 } from '../../src/common/bytes.ts';
import { HsmError } from '../../src/common/errors.ts';
import type { SealContext } from '../../src/hsm/keystore.ts';
import { Pkcs11Keystore } from '../../src/hsm/pkcs11-keystore.ts';
import { decodeBlob, encodeBlob } from '../../src/hsm/sealed-blob.ts';
import { hsmError } from './hsm-error.ts';
import { findByLabel, softHsmFixture, withRawSession } from './softhsm-fixture.ts';

const ctx: SealContext = { keyId: 'key-1', party: 'node-1', purpose: 'key-share' };

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

function tokenFilesContain(dir: string, needle: Uint8Array): boolean {
  return filesUnder(dir).some((p) => readFileSync(p).includes(Buffer.from(needle)));
}

test('seal/unseal round trip, fresh IV per seal, blob names the token sealing key', (t) => {
  const ks = softHsmFixture(t, ['node-a']).open('node-a');
  assert.match(ks.sealingKeyId, /^p11-[0-9a-f]{32}$/);
  for (const plaintext of [randomBytes(32), new Uint8Array(0), randomBytes(10_000)]) {
    const blob = ks.seal(plaintext, ctx);
    assert.deepEqual(ks.unseal(blob, ctx), new Uint8Array(plaintext));
    assert.equal(decodeBlob(blob).sealingKeyId, ks.sealingKeyId);
    assert.equal(blob.length, 5 + ks.sealingKeyId.length + 12 + plaintext.length + 16);
  }
  const secret = randomBytes(32);
  const a = ks.seal(secret, ctx);
  const b = ks.seal(secret, ctx);
  assert.notDeepEqual(decodeBlob(a).iv, decodeBlob(b).iv);
  assert.notDeepEqual(a, b);
});

test('one flipped byte anywhere in IV, ciphertext or tag: hsm.seal_invalid, and the session still works', (t) => {
  const ks = softHsmFixture(t, ['node-a']).open('node-a');
  const secret = randomBytes(48);
  const blob = ks.seal(secret, ctx);
  const headerLen = 5 + ks.sealingKeyId.length;
  for (const i of [headerLen, headerLen + 11, headerLen + 12, headerLen + 12 + 47, blob.length - 16, blob.length - 1]) {
    const bad = blob.slice();
    bad[i] ^= 0x01;
    assert.throws(() => ks.unseal(bad, ctx), hsmError('hsm.seal_invalid', 'failed authentication'), `byte ${i}`);
  }
  // A byte of the header's key id: refused before the HSM is asked.
  const badId = blob.slice();
  badId[6] ^= 0x01;
  assert.throws(() => ks.unseal(badId, ctx), hsmError('hsm.seal_invalid', 'belongs to sealing key'));
  assert.throws(() => ks.unseal(blob.subarray(0, blob.length - 20), ctx), hsmError('hsm.seal_invalid'));
  assert.deepEqual(ks.unseal(blob, ctx), new Uint8Array(secret));
});

test('a blob opened under another key id, party or purpose: hsm.seal_invalid', (t) => {
  const ks = softHsmFixture(t, ['node-a']).open('node-a');
  const blob = ks.seal(randomBytes(32), ctx);
  const others: SealContext[] = [
    { ...ctx, keyId: 'key-2' },
    { ...ctx, party: 'node-2' },
    { ...ctx, purpose: 'presignature' },
  ];
  for (const other of others) {
    assert.throws(() => ks.unseal(blob, other), hsmError('hsm.seal_invalid', `key ${other.keyId}, party ${other.party}, purpose ${other.purpose}`));
  }
  assert.equal(ks.unseal(blob, ctx).length, 32);
});

test('a blob from another token: hsm.seal_invalid, even with its header rewritten to this token', (t) => {
  const f = softHsmFixture(t, ['node-a', 'node-b']);
  const a = f.open('node-a');
  const b = f.open('node-b');
  assert.notEqual(a.sealingKeyId, b.sealingKeyId);
  const blob = a.seal(randomBytes(32), ctx);
  assert.throws(() => b.unseal(blob, ctx), hsmError('hsm.seal_invalid', `belongs to sealing key ${a.sealingKeyId}`));
  // Relabelled so the header check passes: the token's AES-GCM must still refuse it.
  const { iv, ciphertext } = decodeBlob(blob);
  assert.throws(() => b.unseal(encodeBlob(b.sealingKeyId, iv, ciphertext), ctx), hsmError('hsm.seal_invalid', 'failed authentication'));
  assert.equal(a.unseal(blob, ctx).length, 32);
});

test('wrong PIN: hsm.pin_incorrect, and neither message, JSON, cause nor stack holds the PIN', (t) => {
  const f = softHsmFixture(t, ['node-a']);
  const wrongPin = 'Wr0ngPin-7391-quartz';
  let err: unknown;
  try { f.open('node-a', wrongPin); } catch (e) { err = e; }
  assert.ok(err instanceof HsmError);
  assert.equal(err.code, 'hsm.pin_incorrect');
  assert.ok(err.message.includes('"node-a"'), err.message);
  const everything = [err.message, JSON.stringify(err), String(err.stack), String((err.cause as Error | undefined)?.message), String((err.cause as Error | undefined)?.stack)].join('\n');
  assert.ok(!everything.includes(wrongPin));
  assert.ok(!everything.includes(f.pins['node-a']));
  // The failed open gave the module back: the right PIN works afterwards.
  assert.equal(f.open('node-a').identityPublicKey().length, 33);
});

test('missing token label: hsm.token_missing naming the label', (t) => {
  const f = softHsmFixture(t, ['node-a']);
  assert.throws(() => Pkcs11Keystore.open({ modulePath: f.modulePath, tokenLabel: 'node-z', pin: f.pins['node-a'] }), hsmError('hsm.token_missing', '"node-z"'));
  assert.throws(() => Pkcs11Keystore.open({ modulePath: '/nonexistent/libpkcs11.so', tokenLabel: 'node-a', pin: 'x' }), hsmError('hsm.module_missing'));
});

test('identity signatures verify with p256.verify and are low-s', (t) => {
  const ks = softHsmFixture(t, ['node-a']).open('node-a');
  const pub = ks.identityPublicKey();
  assert.equal(pub.length, 33);
  assert.ok(pub[0] === 0x02 || pub[0] === 0x03);
  const half = p256.Point.Fn.ORDER >> 1n;
  // 64 signatures: were s not normalised, about half would be high-s.
  for (let i = 0; i < 64; i++) {
    const msg = utf8(`message ${i}`);
    const sig = ks.signIdentity(msg);
    assert.equal(sig.length, 64);
    assert.ok(p256.Signature.fromBytes(sig, 'compact').s <= half, `signature ${i} is high-s`);
    assert.ok(p256.verify(sig, sha256(msg), pub, { prehash: false, lowS: true }));
    assert.ok(!p256.verify(sig, sha256(utf8(`message ${i + 1}`)), pub, { prehash: false }));
  }
  assert.notDeepEqual(ks.encryptionPublicKey(), pub);
});

test('the encryption key: lent as a valid scalar matching encryptionPublicKey, wiped afterwards', (t) => {
  const ks = softHsmFixture(t, ['node-a']).open('node-a');
  let lent: Uint8Array | undefined;
  const pub = ks.withEncryptionKey((sk) => {
    lent = sk;
    assert.ok(p256.utils.isValidSecretKey(sk));
    return p256.getPublicKey(sk, true);
  });
  assert.deepEqual(pub, ks.encryptionPublicKey());
  assert.deepEqual(lent, new Uint8Array(32));
});

test('objects persist across close and reopen; nothing is created twice', (t) => {
  const f = softHsmFixture(t, ['node-a']);
  const first = f.open('node-a');
  const before = { id: first.sealingKeyId, identity: first.identityPublicKey(), encryption: first.encryptionPublicKey() };
  const secret = randomBytes(32);
  const blob = first.seal(secret, ctx);
  const scalar = first.withEncryptionKey((sk) => sk.slice());
  first.close();
  assert.throws(() => first.seal(secret, ctx), hsmError('hsm.closed'));
  first.close();

  const second = f.open('node-a');
  assert.equal(second.sealingKeyId, before.id);
  assert.deepEqual(second.identityPublicKey(), before.identity);
  assert.deepEqual(second.encryptionPublicKey(), before.encryption);
  assert.deepEqual(second.unseal(blob, ctx), new Uint8Array(secret));
  assert.deepEqual(second.withEncryptionKey((sk) => sk.slice()), scalar);
  assert.ok(p256.verify(second.signIdentity(utf8('after reopen')), sha256(utf8('after reopen')), before.identity, { prehash: false }));
  second.close();

  withRawSession(f, 'node-a', (lib, session) => {
    assert.equal(findByLabel(lib, session, 'custos-sealing-key').length, 1);
    assert.equal(findByLabel(lib, session, 'custos-identity').length, 2);
    assert.equal(findByLabel(lib, session, 'custos-encryption-key').length, 1);
  });
});

test('a second keystore on an open token is refused (PKCS#11 login is per process)', (t) => {
  const f = softHsmFixture(t, ['node-a']);
  f.open('node-a');
  assert.throws(() => f.open('node-a'), hsmError('hsm.token_in_use'));
  assert.throws(() => f.open('node-a', 'some-other-pin'), hsmError('hsm.token_in_use'));
});

test('the sealing and identity keys are sensitive and non-extractable, read back from the token', (t) => {
  const f = softHsmFixture(t, ['node-a']);
  f.open('node-a').close();
  withRawSession(f, 'node-a', (lib, session) => {
    const [aes] = findByLabel(lib, session, 'custos-sealing-key');
    const attrs = lib.C_GetAttributeValue(session, aes, [
      { type: pkcs11js.CKA_EXTRACTABLE }, { type: pkcs11js.CKA_SENSITIVE }, { type: pkcs11js.CKA_TOKEN },
      { type: pkcs11js.CKA_NEVER_EXTRACTABLE }, { type: pkcs11js.CKA_WRAP },
    ]).map((a) => a.value[0]);
    assert.deepEqual(attrs, [0, 1, 1, 1, 0]);
    assert.throws(() => lib.C_GetAttributeValue(session, aes, [{ type: pkcs11js.CKA_VALUE }]), /CKR_ATTRIBUTE_SENSITIVE/);
    const priv = findByLabel(lib, session, 'custos-identity').find((h) => lib.C_GetAttributeValue(session, h, [{ type: pkcs11js.CKA_CLASS }])[0].value[0] === pkcs11js.CKO_PRIVATE_KEY);
    assert.ok(priv !== undefined);
    const pattrs = lib.C_GetAttributeValue(session, priv, [{ type: pkcs11js.CKA_EXTRACTABLE }, { type: pkcs11js.CKA_SENSITIVE }]).map((a) => a.value[0]);
    assert.deepEqual(pattrs, [0, 1]);
    assert.throws(() => lib.C_GetAttributeValue(session, priv, [{ type: pkcs11js.CKA_VALUE }]), /CKR_ATTRIBUTE_SENSITIVE/);
  });
});

test('an extractable key planted under the sealing key label is refused (hsm.key_policy)', (t) => {
  const f = softHsmFixture(t, ['node-a']);
  withRawSession(f, 'node-a', (lib, session) => {
    lib.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_LABEL, value: 'custos-sealing-key' },
      { type: pkcs11js.CKA_ID, value: Buffer.alloc(16, 7) },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: false },
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
    ]);
  });
  assert.throws(() => f.open('node-a'), hsmError('hsm.key_policy', 'CKA_EXTRACTABLE should be false'));
});

test('neither a sealed secret nor the encryption scalar appears in the token files', (t) => {
  const f = softHsmFixture(t, ['node-a']);
  const ks = f.open('node-a');
  const secret = randomBytes(64);
  const blob = ks.seal(secret, ctx);
  const scalar = ks.withEncryptionKey((sk) => sk.slice());
  const identity = p256.Point.fromBytes(ks.identityPublicKey()).toBytes(false);
  ks.close();
  const files = filesUnder(f.tokenDir);
  assert.ok(files.length > 0);
  // Control: the search does find what SoftHSM stores in clear (the public identity point).
  assert.ok(tokenFilesContain(f.tokenDir, identity), 'control: public key not found in token files');
  assert.ok(!tokenFilesContain(f.tokenDir, secret));
  assert.ok(!tokenFilesContain(f.tokenDir, scalar));
  assert.ok(!tokenFilesContain(f.tokenDir, secret.subarray(0, 16)));
  assert.ok(!tokenFilesContain(f.tokenDir, utf8(toHex(scalar))));
  assert.ok(!tokenFilesContain(f.tokenDir, blob.subarray(blob.length - 32)), 'sealed blobs are the caller\'s to store, not the token\'s');
});

test('timings (printed, not asserted)', (t) => {
  const f = softHsmFixture(t, ['node-a']);
  let t0 = performance.now();
  const ks = f.open('node-a');
  const openCreate = performance.now() - t0;
  ks.close();
  t0 = performance.now();
  const again = f.open('node-a');
  const openFind = performance.now() - t0;
  const n = 300;
  const secret = randomBytes(32);
  t0 = performance.now();
  for (let i = 0; i < n; i++) again.unseal(again.seal(secret, ctx), ctx);
  const sealUnseal = (performance.now() - t0) / n;
  const msg = randomBytes(200);
  t0 = performance.now();
  for (let i = 0; i < n; i++) again.signIdentity(msg);
  const sign = (performance.now() - t0) / n;
  t0 = performance.now();
  for (let i = 0; i < n; i++) again.withEncryptionKey((sk) => sk[0]);
  const lend = (performance.now() - t0) / n;
  t.diagnostic(`open (first run, creates objects): ${openCreate.toFixed(1)} ms; open (finds objects): ${openFind.toFixed(1)} ms`);
  t.diagnostic(`seal+unseal of 32 bytes: ${(sealUnseal * 1000).toFixed(0)} µs; signIdentity: ${(sign * 1000).toFixed(0)} µs; withEncryptionKey: ${(lend * 1000).toFixed(0)} µs (mean of ${n})`);
});
