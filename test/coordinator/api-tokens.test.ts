import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/common/sqlite.ts';
import Fastify from 'fastify';
import { installProblemHandlers, serverOptions } from '../../src/common/http.ts';
import { jsonLogger } from '../../src/common/logger.ts';
import { ApiTokens, bearerToken, installTokenAuth } from '../../src/coordinator/api-tokens.ts';

const T = new Date('2030-01-01T00:00:00.000Z');

test('create, verify, revoke, list, count', () => {
  const tokens = new ApiTokens(new DatabaseSync(':memory:'));
  const a = tokens.create('ci-pipeline', T);
  const b = tokens.create('treasury-ops', new Date(T.getTime() + 1000));
  assert.match(a.token, /^custos_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  assert.equal(a.token.split('_')[1], a.id);
  assert.notEqual(a.token, b.token);
  assert.deepEqual({ ...a, token: undefined }, { id: a.id, token: undefined, name: 'ci-pipeline', createdAt: T.toISOString() });
  assert.deepEqual(tokens.verify(a.token), { id: a.id, name: 'ci-pipeline' });
  assert.deepEqual(tokens.verify(b.token), { id: b.id, name: 'treasury-ops' });
  assert.equal(tokens.count(), 2);

  assert.equal(tokens.revoke(a.id, new Date(T.getTime() + 5000)), true);
  assert.equal(tokens.verify(a.token), undefined, 'revoked');
  assert.deepEqual(tokens.verify(b.token), { id: b.id, name: 'treasury-ops' }, 'the other token still works');
  assert.equal(tokens.count(), 1);
  assert.equal(tokens.revoke(a.id, new Date(T.getTime() + 9000)), true, 'revoking again is harmless');
  assert.equal(tokens.revoke('0000000000000000'), false, 'unknown id');
  assert.deepEqual(tokens.list(), [
    { id: a.id, name: 'ci-pipeline', createdAt: T.toISOString(), revokedAt: new Date(T.getTime() + 5000).toISOString() },
    { id: b.id, name: 'treasury-ops', createdAt: new Date(T.getTime() + 1000).toISOString(), revokedAt: null },
  ]);

  for (const name of ['', ' padded ', 'x'.repeat(101), 'tab\there', 'ünïcode']) {
    assert.throws(() => tokens.create(name), (e: { code?: string; status?: number }) => e.code === 'token.bad_name' && e.status === 400, JSON.stringify(name));
  }
});

test('only a hash of the token is stored', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'custos-tokens-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = openDatabase(join(dir, 'coordinator.db'));
  const tokens = new ApiTokens(db);
  const { id, token } = tokens.create('reader');
  const secret = token.slice('custos_'.length + 16 + 1); // the secret is base64url and may itself contain '_'
  const rows = db.prepare('SELECT * FROM api_tokens').all() as Record<string, unknown>[];
  assert.equal(rows.length, 1);
  const dump = JSON.stringify(rows);
  assert.ok(!dump.includes(secret), 'secret part not in the row');
  assert.match(String(rows[0].token_hash), /^[0-9a-f]{64}$/);
  assert.ok(dump.includes(id), 'control: the row is the one searched');
  // Nor anywhere in the database files (main file and write-ahead log).
  const files = readdirSync(dir).map((f) => readFileSync(join(dir, f)).toString('latin1')).join('');
  assert.ok(files.includes(id), 'control: the files hold the row');
  assert.ok(!files.includes(secret), 'secret not on disk');
  db.close();
});

test('wrong, garbled and foreign tokens are refused', () => {
  const tokens = new ApiTokens(new DatabaseSync(':memory:'));
  const { id, token } = tokens.create('client');
  const other = new ApiTokens(new DatabaseSync(':memory:')).create('elsewhere');
  const secret = token.slice('custos_'.length + 16 + 1); // the secret is base64url and may itself contain '_'
  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  const bad = [
    '', 'custos', token + 'x', token.slice(0, -1), flip(token, token.length - 1), flip(token, 30),
    token.toUpperCase(), ` ${token}`, `${token} `, token.replace('custos_', 'custus_'),
    `custos_${'0'.repeat(16)}_${secret}`, // the right secret under another id
    other.token, // a well-formed token of another coordinator
    `custos_${id}_${'A'.repeat(43)}`,
    `custos_${id}_${secret}_`, 'x'.repeat(100_000),
  ];
  for (const t of bad) assert.equal(tokens.verify(t), undefined, t.slice(0, 80));
  assert.equal(tokens.verify(undefined as unknown as string), undefined);
  assert.deepEqual(tokens.verify(token), { id, name: 'client' }, 'control: the real token passes');
});

test('bearerToken parses Authorization: Bearer', () => {
  assert.equal(bearerToken('Bearer abc_DEF-1.2~3+4/5='), 'abc_DEF-1.2~3+4/5=');
  assert.equal(bearerToken('bearer abc'), 'abc', 'the scheme is case-insensitive (RFC 7235)');
  assert.equal(bearerToken('Bearer  abc '), 'abc');
  for (const h of [undefined, '', 'Bearer', 'Bearer ', 'Basic dXNlcjpwdw==', 'Bearerabc', 'Bearer a b', 'Bearer a,b', 'Token abc']) {
    assert.equal(bearerToken(h), undefined, String(h));
  }
});

test('installTokenAuth: 401 problem without or with a bad token, 200 with a good one, open routes pass', async (t) => {
  const tokens = new ApiTokens(new DatabaseSync(':memory:'));
  const good = tokens.create('client-a');
  const revoked = tokens.create('client-b');
  tokens.revoke(revoked.id);
  const app = Fastify(serverOptions(1024));
  installProblemHandlers(app, jsonLogger('test', () => undefined));
  installTokenAuth(app, tokens, { open: (method, url) => (method === 'GET' || method === 'HEAD') && ['/healthz', '/metrics', '/openapi.json'].includes(url) });
  app.get('/healthz', async (req) => ({ ok: true, client: req.custosClient ?? null }));
  app.get('/metrics', async () => 'm 1\n');
  app.get('/v1/keys/:id', async (req) => ({ id: (req.params as { id: string }).id, client: req.custosClient }));
  app.post('/healthz', async () => ({ posted: true }));
  t.after(() => app.close());

  const call = (url: string, authorization?: string, method: 'GET' | 'POST' = 'GET') => app.inject({ method, url, headers: authorization === undefined ? {} : { authorization } });
  const expect401 = async (res: Awaited<ReturnType<typeof call>>, code: string, what: string) => {
    assert.equal(res.statusCode, 401, what);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/, what);
    assert.match(String(res.headers['www-authenticate']), /^Bearer realm="custos"/, what);
    assert.equal(res.json().code, code, what);
    assert.equal(res.json().status, 401, what);
    assert.ok(!res.body.includes(good.token) && !res.body.includes(revoked.token), 'no token echoed');
  };

  await expect401(await call('/v1/keys/k1'), 'auth.token_required', 'no header');
  await expect401(await call('/v1/keys/k1', `Basic ${Buffer.from('u:p').toString('base64')}`), 'auth.token_required', 'another scheme');
  await expect401(await call('/v1/keys/k1', 'Bearer'), 'auth.token_invalid', 'empty bearer');
  await expect401(await call('/v1/keys/k1', 'Bearer a b'), 'auth.token_invalid', 'garbled bearer');
  await expect401(await call('/v1/keys/k1', `Bearer ${good.token.slice(0, -1)}x`), 'auth.token_invalid', 'wrong token');
  await expect401(await call('/v1/keys/k1', `Bearer ${revoked.token}`), 'auth.token_invalid', 'revoked token');
  assert.match(String((await call('/v1/keys/k1', `Bearer ${revoked.token}`)).headers['www-authenticate']), /error="invalid_token"/);
  await expect401(await call('/v1/nowhere'), 'auth.token_required', 'unknown routes are not mapped for anonymous callers');
  await expect401(await call('/healthz', undefined, 'POST'), 'auth.token_required', 'open is per method');
  await expect401(await call('/healthz/'), 'auth.token_required', 'only the exact open route');
  // Openness follows the matched route, not the spelling of the path.
  await expect401(await call('/v1/%6beys/k1'), 'auth.token_required', 'an encoded path to a closed route');
  assert.equal((await call('/%68ealthz')).statusCode, 200, 'an encoded path to the open route is that route');

  const ok = await call('/v1/keys/k1?x=1', `Bearer ${good.token}`);
  assert.equal(ok.statusCode, 200);
  assert.deepEqual(ok.json(), { id: 'k1', client: { id: good.id, name: 'client-a' } }, 'request.custosClient is set');
  assert.equal((await call('/v1/nowhere', `Bearer ${good.token}`)).statusCode, 404, 'with a token, an unknown route is a plain 404');

  const health = await call('/healthz?verbose=1');
  assert.equal(health.statusCode, 200);
  assert.deepEqual(health.json(), { ok: true, client: null });
  assert.equal((await call('/metrics')).statusCode, 200);
  assert.equal((await app.inject({ method: 'HEAD', url: '/metrics' })).statusCode, 200);
  assert.equal((await call('/healthz', `Bearer ${revoked.token}`)).statusCode, 200, 'an open route ignores the token');
});
