import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex, utf8 } from '../../src/common/bytes.ts';
import { HsmError } from '../../src/common/errors.ts';
import { buildLegacyApi, legacyRequestHash, type SingleKeySigner } from '../../src/compat/legacy-signer.ts';
import { LegacyStore } from '../../src/compat/legacy-store.ts';
import { LEGACY_DB_FILE } from '../../src/cli/legacy-signer.ts';
import { assertProblem, call, fixture, quiet, spawnMain, tempDir, type Res } from './legacy-fixture.ts';

/** The legacy signer as the single-key baseline of threshold ECDSA: scheme ecdsa-secp256k1. */

const digestBody = (hex: string) => ({ payload: { type: 'digest' as const, hex } });
const ANSWER_KEYS = ['presigned', 'publicKey', 'recoveryId', 'requestId', 'signature'];

/** Checks an answer the way a Bitcoin or Ethereum client would: verify (low-s enforced), then recover the key. */
function assertEcdsaAnswer(r: Res, digest: Uint8Array, publicKeyHex: string): void {
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(Object.keys(r.json).sort(), ANSWER_KEYS);
  assert.match(r.json.signature, /^[0-9a-f]{128}$/);
  assert.equal(r.json.publicKey, publicKeyHex);
  assert.equal(r.json.presigned, false);
  assert.ok(r.json.recoveryId === 0 || r.json.recoveryId === 1, String(r.json.recoveryId));
  const sig = fromHex(r.json.signature, 'signature', 64);
  const pub = fromHex(publicKeyHex, 'publicKey', 33);
  assert.ok(secp256k1.verify(sig, digest, pub, { prehash: false, lowS: true }), 'verifies, low-s');
  const recovered = secp256k1.Signature.fromBytes(sig, 'compact').addRecoveryBit(r.json.recoveryId).recoverPublicKey(digest).toBytes(true);
  assert.deepEqual(recovered, pub, 'the recovery id leads to the key');
}

test('ecdsa-secp256k1 through REST: low-s r||s that verifies, a recovery id that recovers the key, the request on record', async (t) => {
  const s = await fixture(t).start({ scheme: 'ecdsa-secp256k1' });
  assert.equal(s.scheme, 'ecdsa-secp256k1');
  assert.match(s.keyId, /^secp256k1-[0-9a-f]{32}$/);
  assert.match(s.publicKey, /^0[23][0-9a-f]{64}$/);
  const key = await call(s.url, 'GET', `/v1/keys/${s.keyId}`);
  assert.equal(key.status, 200);
  assert.deepEqual(key.json, { id: s.keyId, scheme: 'ecdsa-secp256k1', publicKey: s.publicKey });
  assert.deepEqual((await call(s.url, 'GET', '/v1/keys')).json, { keys: [key.json] });
  const ids = new Set<number>();
  for (let i = 0; i < 16; i++) {
    const digest = i === 0 ? sha256(utf8('pay 1 BTC to bob')) : randomBytes(32);
    const r = await call(s.url, 'POST', `/v1/keys/${s.keyId}/sign`, digestBody(toHex(digest)));
    assertEcdsaAnswer(r, digest, s.publicKey);
    ids.add(r.json.recoveryId);
    const rec = await call(s.url, 'GET', `/v1/requests/${r.json.requestId}`);
    assert.equal(rec.status, 200);
    assert.equal(rec.json.status, 'SIGNED');
    assert.equal(rec.json.keyId, s.keyId);
    assert.equal(rec.json.signature, r.json.signature);
    assert.equal(rec.json.recoveryId, r.json.recoveryId);
  }
  assert.deepEqual([...ids].sort(), [0, 1], 'both parities occur (fails with probability 2^-15)');
  // Upper-case hex is the same digest.
  const d = randomBytes(32);
  assertEcdsaAnswer(await call(s.url, 'POST', `/v1/keys/${s.keyId}/sign`, digestBody(toHex(d).toUpperCase())), d, s.publicKey);
  // Concurrent calls each get their own request and a valid signature.
  const digests = Array.from({ length: 12 }, () => randomBytes(32));
  const many = await Promise.all(digests.map((g) => call(s.url, 'POST', `/v1/keys/${s.keyId}/sign`, digestBody(toHex(g)))));
  assert.equal(new Set(many.map((r) => r.json.requestId)).size, digests.length);
  many.forEach((r, i) => assertEcdsaAnswer(r, digests[i], s.publicKey));
});

test('ecdsa-secp256k1 bad input: 400 problem+json (never 500), nothing recorded', async (t) => {
  const { dir, start } = fixture(t);
  const s = await start({ scheme: 'ecdsa-secp256k1' });
  const path = `/v1/keys/${s.keyId}/sign`;
  const good = '11'.repeat(32);
  for (const body of [
    {},
    { payload: { type: 'digest' } },
    { payload: { hex: good } },
    { payload: { type: 'message', hex: good } },
    { payload: { type: 'Digest', hex: good } },
    { payload: { type: 'digest', hex: '11'.repeat(31) } },
    { payload: { type: 'digest', hex: '11'.repeat(33) } },
    { payload: { type: 'digest', hex: '1'.repeat(63) } },
    { payload: { type: 'digest', hex: '' } },
    { payload: { type: 'digest', hex: 'zz' + '11'.repeat(31) } },
    { payload: { type: 'digest', hex: '0x' + '11'.repeat(31) } },
    { payload: { type: 'digest', hex: ' ' + '11'.repeat(31) + '1' } },
    { payload: { type: 'digest', hex: 42 } },
    { payload: { type: 'digest', hex: [good] } },
    { payload: { type: 'digest', hex: good, extra: 1 } },
    { payload: { type: 'digest', hex: good }, derivationPath: 'm/0' },
    { payload: 'digest' },
    [],
  ]) {
    assertProblem(await call(s.url, 'POST', path, body), 400, 'request.schema');
  }
  assertProblem(await call(s.url, 'POST', path, '{"payload":'), 400, 'request.bad_json');
  assertProblem(await call(s.url, 'POST', path, 'null'), 400, 'request.schema');
  assertProblem(await call(s.url, 'POST', `/v1/keys/someone-else/sign`, digestBody(good)), 404, 'key.not_found');
  assertProblem(await call(s.url, 'POST', path, digestBody(good), { 'idempotency-key': 'has space' }), 400, 'request.bad_idempotency_key');
  await s.close();
  const store = new LegacyStore(join(dir, LEGACY_DB_FILE));
  try { assert.equal(store.countRequests(), 0); } finally { store.close(); }
});

test('ecdsa-secp256k1 Idempotency-Key: a repeat gets the same answer, also after a restart; another digest gets 422; a row left SIGNING is finished', async (t) => {
  const { dir, start } = fixture(t);
  const first = await start({ scheme: 'ecdsa-secp256k1' });
  const { keyId, publicKey } = first;
  const path = `/v1/keys/${keyId}/sign`;
  const digest = randomBytes(32);
  const a = await call(first.url, 'POST', path, digestBody(toHex(digest)), { 'idempotency-key': 'withdrawal-7' });
  assertEcdsaAnswer(a, digest, publicKey);
  // The token draws a fresh nonce per signature, so an equal answer can only come from the record.
  const b = await call(first.url, 'POST', path, digestBody(toHex(digest)), { 'idempotency-key': 'withdrawal-7' });
  assert.deepEqual(b, a);
  const fresh = await call(first.url, 'POST', path, digestBody(toHex(digest)));
  assertEcdsaAnswer(fresh, digest, publicKey);
  assert.notEqual(fresh.json.signature, a.json.signature, 'without the key, a new request and a new nonce');
  assertProblem(await call(first.url, 'POST', path, digestBody(toHex(randomBytes(32))), { 'idempotency-key': 'withdrawal-7' }), 422, 'request.idempotency_mismatch');
  await first.close();

  // A process that died between recording a request and recording its signature leaves this row.
  const crashedDigest = randomBytes(32);
  const crashedBody = digestBody(toHex(crashedDigest));
  const store = new LegacyStore(join(dir, LEGACY_DB_FILE));
  store.insertRequest({ id: 'crashed-request', key_id: keyId, idempotency_key: 'crashed', body_hash: legacyRequestHash(keyId, crashedBody), payload: JSON.stringify(crashedBody.payload) });
  store.close();

  const second = await start({ scheme: 'ecdsa-secp256k1' });
  assert.equal(second.keyId, keyId);
  assert.equal(second.publicKey, publicKey);
  assert.deepEqual((await call(second.url, 'POST', path, digestBody(toHex(digest)), { 'idempotency-key': 'withdrawal-7' })).json, a.json, 'the replay survives the restart, recovery id included');
  const resumed = await call(second.url, 'POST', path, crashedBody, { 'idempotency-key': 'crashed' });
  assertEcdsaAnswer(resumed, crashedDigest, publicKey);
  assert.equal(resumed.json.requestId, 'crashed-request');
  assert.deepEqual((await call(second.url, 'POST', path, crashedBody, { 'idempotency-key': 'crashed' })).json, resumed.json);
  const rec = await call(second.url, 'GET', '/v1/requests/crashed-request');
  assert.equal(rec.json.status, 'SIGNED');
  assert.equal(rec.json.recoveryId, resumed.json.recoveryId);
});

test('one data directory holds both keys: each scheme finds its own again', async (t) => {
  const { start } = fixture(t);
  const k1 = await start({ scheme: 'ecdsa-secp256k1' });
  await k1.close();
  const ed = await start();
  assert.equal(ed.scheme, 'ed25519');
  assert.notEqual(ed.keyId, k1.keyId);
  assert.match(ed.publicKey, /^[0-9a-f]{64}$/);
  assertProblem(await call(ed.url, 'POST', `/v1/keys/${ed.keyId}/sign`, digestBody('11'.repeat(32))), 400, 'request.schema');
  await ed.close();
  const again = await start({ scheme: 'ecdsa-secp256k1' });
  assert.equal(again.keyId, k1.keyId);
  assert.equal(again.publicKey, k1.publicKey);
});

/** An ECDSA signer double for the failure paths: no HSM can be made to fail on demand. */
function fakeEcdsaSigner(sign: (d: Uint8Array) => { signature: Uint8Array; recoveryId: 0 | 1 }): SingleKeySigner {
  const sk = secp256k1.utils.randomSecretKey();
  return { scheme: 'ecdsa-secp256k1', keyId: 'fake-k1', publicKey: () => secp256k1.getPublicKey(sk, true), sign, healthy: () => true };
}

test('ecdsa-secp256k1 HSM failure: 500 problem+json recorded FAILED, the replay gives the same problem; verifySignatures refuses a bad signature', async (t) => {
  const dir = tempDir(t);
  const store = new LegacyStore(join(dir, LEGACY_DB_FILE));
  t.after(() => store.close());
  const failing = buildLegacyApi({ signer: fakeEcdsaSigner(() => { throw new HsmError('hsm.device_error', 'PKCS#11 sign failed: CKR_DEVICE_ERROR'); }), store, log: quiet });
  t.after(() => failing.close());
  const req = { method: 'POST' as const, url: '/v1/keys/fake-k1/sign', headers: { 'idempotency-key': 'k1' }, payload: digestBody('22'.repeat(32)) };
  const r1 = await failing.inject(req);
  assert.equal(r1.statusCode, 500);
  assert.match(String(r1.headers['content-type']), /^application\/problem\+json/);
  assert.equal(r1.json().code, 'hsm.device_error');
  assert.equal(store.requestByIdempotencyKey('k1')?.status, 'FAILED');
  assert.deepEqual((await failing.inject(req)).json(), r1.json());

  // r = s = 1: a well-formed signature that does not verify under the key.
  const bogus = () => ({ signature: Uint8Array.of(...new Uint8Array(31), 1, ...new Uint8Array(31), 1), recoveryId: 0 as const });
  const checked = buildLegacyApi({ signer: fakeEcdsaSigner(bogus), store, log: quiet, verifySignatures: true });
  t.after(() => checked.close());
  const r = await checked.inject({ method: 'POST', url: '/v1/keys/fake-k1/sign', payload: digestBody('33'.repeat(32)) });
  assert.equal(r.statusCode, 500);
  assert.equal(r.json().code, 'hsm.bad_signature');
  const unchecked = buildLegacyApi({ signer: fakeEcdsaSigner(bogus), store, log: quiet });
  t.after(() => unchecked.close());
  assert.equal((await unchecked.inject({ method: 'POST', url: '/v1/keys/fake-k1/sign', payload: digestBody('33'.repeat(32)) })).statusCode, 200, 'off by default');
});

test('the main with --scheme ecdsa-secp256k1: one JSON line, signs digests over HTTP, same key after a restart, stops cleanly', async (t) => {
  const dir = tempDir(t);
  const c = await spawnMain(['--data-dir', dir, '--port', '0', '--scheme', 'ecdsa-secp256k1']);
  t.after(() => c.kill('SIGKILL'));
  assert.deepEqual(Object.keys(c.line).sort(), ['keyId', 'listening', 'publicKey']);
  assert.match(c.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(c.line.publicKey, /^0[23][0-9a-f]{64}$/);
  assert.equal((await call(c.url, 'GET', `/v1/keys/${c.line.keyId}`)).json.scheme, 'ecdsa-secp256k1');
  const digest = sha256(utf8('from the bench'));
  assertEcdsaAnswer(await call(c.url, 'POST', `/v1/keys/${c.line.keyId}/sign`, digestBody(toHex(digest))), digest, c.line.publicKey);
  c.kill('SIGTERM');
  const out = await c.exit;
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout.trim().split('\n').length, 1, 'stdout carries the one JSON line only');

  const again = await spawnMain(['--data-dir', dir, '--scheme', 'ecdsa-secp256k1', '--verify']);
  t.after(() => again.kill('SIGKILL'));
  assert.equal(again.line.keyId, c.line.keyId);
  assert.equal(again.line.publicKey, c.line.publicKey);
  assertEcdsaAnswer(await call(again.url, 'POST', `/v1/keys/${again.line.keyId}/sign`, digestBody(toHex(digest))), digest, c.line.publicKey);
  again.kill('SIGINT');
  assert.equal((await again.exit).code, 0);
});
