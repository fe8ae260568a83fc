import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromHex, toHex, utf8 } from '../../src/common/bytes.ts';
import { HsmError } from '../../src/common/errors.ts';
import { buildLegacyApi, legacyRequestHash, type SingleKeySigner } from '../../src/compat/legacy-signer.ts';
import { LEGACY_DB_FILE, LEGACY_PIN_FILE, startLegacySigner } from '../../src/cli/legacy-signer.ts';
import { LegacyStore } from '../../src/compat/legacy-store.ts';
import { assertProblem, call, fixture, quiet, runRefused, spawnMain, tempDir } from './legacy-fixture.ts';

const signBody = (hex: string) => ({ payload: { type: 'message' as const, hex } });

test('sign through REST: the signature verifies under the key the API publishes, and the request is on record', async (t) => {
  const s = await fixture(t).start();
  assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal((await call(s.url, 'GET', '/healthz')).json.status, 'ok');
  const key = await call(s.url, 'GET', `/v1/keys/${s.keyId}`);
  assert.equal(key.status, 200);
  assert.deepEqual(key.json, { id: s.keyId, scheme: 'ed25519', publicKey: s.publicKey });
  const pub = fromHex(key.json.publicKey, 'publicKey', 32);
  for (const msg of [utf8('pay 1 BTC to bob'), new Uint8Array(0), new Uint8Array(200_000).fill(7)]) {
    const r = await call(s.url, 'POST', `/v1/keys/${s.keyId}/sign`, signBody(toHex(msg)));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(Object.keys(r.json).sort(), ['requestId', 'signature']);
    const sig = fromHex(r.json.signature, 'signature', 64);
    assert.ok(ed25519.verify(sig, msg, pub), `message of ${msg.length} bytes`);
    assert.equal(ed25519.verify(sig, utf8('another message'), pub), false);
    const rec = await call(s.url, 'GET', `/v1/requests/${r.json.requestId}`);
    assert.equal(rec.status, 200);
    assert.equal(rec.json.status, 'SIGNED');
    assert.equal(rec.json.signature, r.json.signature);
    assert.equal(rec.json.keyId, s.keyId);
  }
  // Concurrent calls each get their own request and a valid signature.
  const many = await Promise.all(Array.from({ length: 20 }, (_, i) => call(s.url, 'POST', `/v1/keys/${s.keyId}/sign`, signBody(toHex(utf8(`m${i}`))))));
  assert.equal(new Set(many.map((r) => r.json.requestId)).size, 20);
  many.forEach((r, i) => assert.ok(ed25519.verify(fromHex(r.json.signature), utf8(`m${i}`), pub)));
});

test('Idempotency-Key: a repeat gets the same answer, another body gets 422, a malformed key 400', async (t) => {
  const { dir, start } = fixture(t);
  const s = await start();
  const path = `/v1/keys/${s.keyId}/sign`;
  const a = await call(s.url, 'POST', path, signBody('aa01'), { 'idempotency-key': 'order-42' });
  assert.equal(a.status, 200);
  const b = await call(s.url, 'POST', path, signBody('aa01'), { 'idempotency-key': 'order-42' });
  assert.deepEqual(b, a);
  assertProblem(await call(s.url, 'POST', path, signBody('aa02'), { 'idempotency-key': 'order-42' }), 422, 'request.idempotency_mismatch');
  assertProblem(await call(s.url, 'POST', path, signBody('aa01'), { 'idempotency-key': 'x'.repeat(256) }), 400, 'request.bad_idempotency_key');
  assertProblem(await call(s.url, 'POST', path, signBody('aa01'), { 'idempotency-key': 'has space' }), 400, 'request.bad_idempotency_key');
  // Without a key, the same body is a new request each time.
  const c = await call(s.url, 'POST', path, signBody('aa01'));
  const d = await call(s.url, 'POST', path, signBody('aa01'));
  assert.notEqual(c.json.requestId, d.json.requestId);
  assert.notEqual(c.json.requestId, a.json.requestId);
  await s.close();
  const store = new LegacyStore(join(dir, LEGACY_DB_FILE));
  try {
    assert.equal(store.countRequests(), 3, 'one row for the idempotent pair, one each for the two plain calls; refused calls leave none');
    assert.equal(store.requestByIdempotencyKey('order-42')?.status, 'SIGNED');
    assert.deepEqual({ ...(store.db.prepare('PRAGMA journal_mode').get() as object) }, { journal_mode: 'wal' }, 'the durability the coordinator has (sqlite.ts)');
  } finally {
    store.close();
  }
});

test('bad input: 4xx problem+json, nothing signed', async (t) => {
  const { dir, start } = fixture(t);
  const s = await start();
  const path = `/v1/keys/${s.keyId}/sign`;
  assertProblem(await call(s.url, 'POST', '/v1/keys/someone-else/sign', signBody('00')), 404, 'key.not_found');
  assertProblem(await call(s.url, 'GET', '/v1/keys/someone-else'), 404, 'key.not_found');
  assertProblem(await call(s.url, 'GET', '/v1/requests/nope'), 404, 'request.not_found');
  assertProblem(await call(s.url, 'GET', '/v1/nothing-here'), 404, 'route.not_found');
  for (const body of [
    {},
    { payload: { type: 'message' } },
    { payload: { type: 'message', hex: 'abc' } },
    { payload: { type: 'message', hex: 'zz' } },
    { payload: { type: 'transaction', hex: '00' } },
    { payload: { type: 'digest', hex: '00'.repeat(32) } },
    { payload: { type: 'message', hex: '00', extra: 1 } },
    { payload: { type: 'message', hex: '00' }, derivationPath: 'm/0' },
    { payload: 'message' },
    [],
  ]) {
    assertProblem(await call(s.url, 'POST', path, body), 400, 'request.schema');
  }
  assertProblem(await call(s.url, 'POST', path, '{"payload":'), 400, 'request.bad_json');
  const wrongType = await fetch(s.url + path, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<sign/>' });
  assertProblem({ status: wrongType.status, json: await wrongType.json(), contentType: wrongType.headers.get('content-type') ?? '' }, 415, 'request.media_type');
  await s.close();
  const store = new LegacyStore(join(dir, LEGACY_DB_FILE));
  try { assert.equal(store.countRequests(), 0); } finally { store.close(); }
});

test('restart on the same data directory: same key, PIN from the 0600 file, replays survive; a request left SIGNING is finished', async (t) => {
  const { dir, start } = fixture(t);
  const first = await start();
  const { keyId, publicKey } = first;
  const pinPath = join(dir, LEGACY_PIN_FILE);
  assert.ok(existsSync(pinPath));
  assert.equal(statSync(pinPath).mode & 0o777, 0o600);
  const before = await call(first.url, 'POST', `/v1/keys/${keyId}/sign`, signBody('beef'), { 'idempotency-key': 'before-restart' });
  assert.equal(before.status, 200);
  await first.close();

  // A process that died between recording a request and recording its signature leaves this row.
  const crashedBody = signBody(toHex(utf8('interrupted')));
  const store = new LegacyStore(join(dir, LEGACY_DB_FILE));
  store.insertRequest({ id: 'crashed-request', key_id: keyId, idempotency_key: 'crashed', body_hash: legacyRequestHash(keyId, crashedBody), payload: JSON.stringify(crashedBody.payload) });
  store.close();

  const second = await start();
  assert.equal(second.keyId, keyId);
  assert.equal(second.publicKey, publicKey);
  const again = await call(second.url, 'POST', `/v1/keys/${keyId}/sign`, signBody('beef'), { 'idempotency-key': 'before-restart' });
  assert.deepEqual(again.json, before.json);
  const resumed = await call(second.url, 'POST', `/v1/keys/${keyId}/sign`, crashedBody, { 'idempotency-key': 'crashed' });
  assert.equal(resumed.status, 200, JSON.stringify(resumed.json));
  assert.equal(resumed.json.requestId, 'crashed-request');
  assert.ok(ed25519.verify(fromHex(resumed.json.signature), utf8('interrupted'), fromHex(publicKey)));
  assert.equal((await call(second.url, 'GET', '/v1/requests/crashed-request')).json.status, 'SIGNED');
  assertProblem(await call(second.url, 'POST', `/v1/keys/${keyId}/sign`, signBody('00'), { 'idempotency-key': 'crashed' }), 422, 'request.idempotency_mismatch');
});

test('a PIN given by the caller is not written down; a wrong one is refused without appearing in the error', async (t) => {
  const { dir, start } = fixture(t);
  const pin = 'caller-chosen-pin-4711';
  const s = await start({ pin });
  assert.equal(existsSync(join(dir, LEGACY_PIN_FILE)), false);
  await s.close();
  const wrong = 'not-the-pin-0815';
  await assert.rejects(startLegacySigner({ dataDir: dir, pin: wrong, log: quiet }), (e: unknown) => {
    assert.ok(e instanceof HsmError);
    assert.equal(e.code, 'hsm.pin_incorrect');
    const shown = JSON.stringify({ m: e.message, c: String(e.cause), s: e.stack });
    assert.ok(!shown.includes(wrong) && !shown.includes(pin));
    return true;
  });
  // Without a PIN and without a PIN file there is nothing to log in with.
  await assert.rejects(startLegacySigner({ dataDir: dir, log: quiet }), (e: unknown) => e instanceof HsmError && e.code === 'hsm.pin_unavailable');
  const back = await start({ pin });
  assert.equal(back.publicKey, s.publicKey);
});

/** A signer double for the failure paths: no HSM can be made to fail on demand. */
function fakeSigner(sign: (m: Uint8Array) => Uint8Array): SingleKeySigner {
  const sk = ed25519.utils.randomSecretKey();
  return { keyId: 'fake-key', publicKey: () => ed25519.getPublicKey(sk), sign, healthy: () => true };
}

test('an HSM failure: 500 problem+json, the request recorded FAILED before the answer, a replay gives the same problem', async (t) => {
  const dir = tempDir(t);
  const store = new LegacyStore(join(dir, LEGACY_DB_FILE));
  t.after(() => store.close());
  let seenDuringSign: string | undefined;
  const signer = fakeSigner(() => {
    seenDuringSign = store.requestByIdempotencyKey('k1')?.status;
    throw new HsmError('hsm.device_error', 'PKCS#11 sign failed: CKR_DEVICE_ERROR');
  });
  const app = buildLegacyApi({ signer, store, log: quiet });
  t.after(() => app.close());
  const req = { method: 'POST' as const, url: '/v1/keys/fake-key/sign', headers: { 'idempotency-key': 'k1' }, payload: signBody('00') };
  const r1 = await app.inject(req);
  assert.equal(r1.statusCode, 500);
  assert.match(String(r1.headers['content-type']), /^application\/problem\+json/);
  assert.equal(r1.json().code, 'hsm.device_error');
  assert.equal(seenDuringSign, 'SIGNING', 'the request is recorded before the HSM is asked');
  const row = store.requestByIdempotencyKey('k1');
  assert.equal(row?.status, 'FAILED');
  assert.equal(JSON.parse(row!.error!).code, 'hsm.device_error');
  const r2 = await app.inject(req);
  assert.equal(r2.statusCode, 500);
  assert.deepEqual(r2.json(), r1.json());
  assert.equal(store.countRequests(), 1);
});

test('verifySignatures: a signature that does not verify is refused and recorded', async (t) => {
  const dir = tempDir(t);
  const store = new LegacyStore(join(dir, LEGACY_DB_FILE));
  t.after(() => store.close());
  const app = buildLegacyApi({ signer: fakeSigner(() => new Uint8Array(64)), store, log: quiet, verifySignatures: true });
  t.after(() => app.close());
  const r = await app.inject({ method: 'POST', url: '/v1/keys/fake-key/sign', payload: signBody('00') });
  assert.equal(r.statusCode, 500);
  assert.equal(r.json().code, 'hsm.bad_signature');
  const unverified = buildLegacyApi({ signer: fakeSigner(() => new Uint8Array(64)), store, log: quiet });
  t.after(() => unverified.close());
  assert.equal((await unverified.inject({ method: 'POST', url: '/v1/keys/fake-key/sign', payload: signBody('00') })).statusCode, 200, 'off by default');
});

test('the main as a child process: one JSON line, signs over HTTP, stops cleanly on SIGTERM', async (t) => {
  const dir = tempDir(t);
  const c = await spawnMain(['--data-dir', dir, '--port', '0']);
  t.after(() => c.kill('SIGKILL'));
  assert.deepEqual(Object.keys(c.line).sort(), ['keyId', 'listening', 'publicKey']);
  assert.match(c.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const r = await call(c.url, 'POST', `/v1/keys/${c.line.keyId}/sign`, signBody(toHex(utf8('from the bench'))));
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.ok(ed25519.verify(fromHex(r.json.signature), utf8('from the bench'), fromHex(c.line.publicKey)));
  c.kill('SIGTERM');
  const out = await c.exit;
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout.trim().split('\n').length, 1, 'stdout carries the one JSON line only');
  const pin = readFileSync(join(dir, LEGACY_PIN_FILE), 'utf8').trim();
  assert.ok(!out.stdout.includes(pin) && !out.stderr.includes(pin), 'the PIN never reaches the output');

  // The same directory in a new process: the same key.
  const again = await spawnMain(['--data-dir', dir]);
  t.after(() => again.kill('SIGKILL'));
  assert.equal(again.line.keyId, c.line.keyId);
  assert.equal(again.line.publicKey, c.line.publicKey);
  again.kill('SIGINT');
  assert.equal((await again.exit).code, 0);
});

test('the main refuses bad usage with exit code 2', async () => {
  for (const args of [[], ['--data-dir', '/tmp/x', '--port', 'eighty'], ['--bogus'], ['--data-dir', '/tmp/x', '--scheme', 'ecdsa-p256'], ['--data-dir', '/tmp/x', '--scheme']]) {
    const { code, stderr } = await runRefused(args);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.match(stderr, /usage:/);
  }
  assert.match((await runRefused(['--data-dir', '/tmp/x', '--scheme', 'ecdsa-p256'])).stderr, /--scheme must be one of ed25519, ecdsa-secp256k1/);
});
