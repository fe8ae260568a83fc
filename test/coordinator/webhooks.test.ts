import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { openDatabase } from '../../src/common/sqlite.ts';
import { installProblemHandlers, serverOptions } from '../../src/common/http.ts';
import { jsonLogger, type Logger } from '../../src/common/logger.ts';
import { verifyWebhook } from '../../src/coordinator/webhook-signature.ts';
import { WebhookStore } from '../../src/coordinator/webhook-store.ts';
import { WebhookDispatcher, retryDelayMs, type WebhookDispatcherOptions } from '../../src/coordinator/webhooks.ts';
import { registerWebhookRoutes } from '../../src/coordinator/webhook-routes.ts';

const T0 = Date.UTC(2030, 0, 1);

type Received = { headers: IncomingHttpHeaders; body: string; verified: boolean };

/** A real HTTP receiver on 127.0.0.1 that checks Custos-Signature as a customer would. */
async function startReceiver(clock: () => number) {
  const got: Received[] = [];
  const waiters: ((r: Received) => void)[] = [];
  const state = { secret: '', answers: [] as number[], fallback: 200, hang: false };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const sig = req.headers['custos-signature'];
      const r = { headers: req.headers, body, verified: verifyWebhook(state.secret, typeof sig === 'string' ? sig : undefined, body, Math.floor(clock() / 1000)) };
      got.push(r);
      waiters.shift()?.(r);
      if (state.hang) return;
      res.statusCode = state.answers.shift() ?? state.fallback;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    got,
    state,
    next: () => new Promise<Received>((r) => waiters.push(r)),
    close: async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)); },
  };
}

function capturingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: jsonLogger('webhooks-test', (l) => lines.push(l)), lines };
}

/** A database file, a dispatcher on a hand-driven clock, and the webhook routes on a Fastify app. */
function harness(opts: Partial<WebhookDispatcherOptions> = {}, routeOpts: Parameters<typeof registerWebhookRoutes>[3] = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'custos-webhooks-'));
  const path = join(dir, 'coordinator.db');
  const clock = { ms: T0 };
  const { log, lines } = capturingLogger();
  const db = openDatabase(path);
  const store = new WebhookStore(db);
  const d = new WebhookDispatcher({ store, log, now: () => clock.ms, ...opts });
  const app: FastifyInstance = Fastify(serverOptions(1024 * 1024));
  installProblemHandlers(app, log);
  registerWebhookRoutes(app, d, store, routeOpts);
  const subscribe = async (url: string, events: string[]) => {
    const r = await app.inject({ method: 'POST', url: '/v1/webhooks', payload: { url, events } });
    assert.equal(r.statusCode, 201, r.body);
    return r.json() as { id: string; url: string; events: string[]; secret: string; createdAt: string };
  };
  const cleanup = async () => {
    await d.stop();
    await app.close();
    if (db.isOpen) db.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, path, clock, log, lines, db, store, d, app, subscribe, cleanup };
}

test('an event is delivered once, signed, with its headers and body; the secret never reaches the log', async (t) => {
  const h = harness();
  const rx = await startReceiver(() => h.clock.ms);
  t.after(async () => { await rx.close(); await h.cleanup(); });
  const hook = await h.subscribe(`${rx.url}?token=receiver-credential`, ['request.signed']);
  rx.state.secret = hook.secret;
  assert.match(hook.secret, /^[0-9a-f]{64}$/);

  const [id] = h.d.emit('request.signed', { requestId: 'r1', signature: 'ab'.repeat(32) });
  assert.equal(await h.d.runDue(), 1);
  assert.equal(rx.got.length, 1);
  const r = rx.got[0];
  assert.equal(r.verified, true, 'the receiver verifies Custos-Signature');
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.headers['custos-event'], 'request.signed');
  assert.equal(r.headers['custos-delivery'], id);
  assert.match(String(r.headers['custos-signature']), new RegExp(`^t=${T0 / 1000},v1=[0-9a-f]{64}$`));
  assert.deepEqual(JSON.parse(r.body), { id, event: 'request.signed', createdAt: new Date(T0).toISOString(), data: { requestId: 'r1', signature: 'ab'.repeat(32) } });
  assert.equal(verifyWebhook('0'.repeat(64), String(r.headers['custos-signature']), r.body, T0 / 1000), false, 'another secret does not verify');

  const row = h.store.getDelivery(id)!;
  assert.equal(row.status, 'delivered');
  assert.equal(row.attempts, 1);
  assert.equal(row.last_status, 200);
  assert.equal(await h.d.runDue(), 0, 'a delivered event is not sent again');
  assert.equal(rx.got.length, 1);

  const log = h.lines.join('\n');
  assert.ok(log.includes('"webhook.delivered"'));
  assert.ok(!log.includes(hook.secret), 'secret not logged');
  assert.ok(!log.includes('receiver-credential'), 'query string not logged');
  assert.ok(log.includes(`${rx.url}`), 'the URL without its query is logged');
});

test('retries follow base·2^(n−1) exactly on the injected clock, then deliver', async (t) => {
  const h = harness({ baseDelayMs: 1000 });
  const rx = await startReceiver(() => h.clock.ms);
  t.after(async () => { await rx.close(); await h.cleanup(); });
  rx.state.secret = (await h.subscribe(rx.url, ['*'])).secret;
  rx.state.answers = [500, 500, 200];

  const [id] = h.d.emit('key.created', { keyId: 'k1' });
  assert.equal(await h.d.runDue(), 1);
  let row = h.store.getDelivery(id)!;
  assert.deepEqual([row.status, row.attempts, row.next_attempt_at, row.last_error, row.last_status], ['pending', 1, T0 + 1000, 'http 500', 500]);

  assert.equal(await h.d.runDue(), 0, 'not due yet at the same instant');
  h.clock.ms = T0 + 999;
  assert.equal(await h.d.runDue(), 0, 'not due 1 ms early');
  h.clock.ms = T0 + 1000;
  assert.equal(await h.d.runDue(), 1);
  row = h.store.getDelivery(id)!;
  assert.deepEqual([row.status, row.attempts, row.next_attempt_at], ['pending', 2, T0 + 1000 + 2000]);

  h.clock.ms = T0 + 2999;
  assert.equal(await h.d.runDue(), 0);
  h.clock.ms = T0 + 3000;
  assert.equal(await h.d.runDue(), 1);
  row = h.store.getDelivery(id)!;
  assert.deepEqual([row.status, row.attempts, row.last_status, row.last_error], ['delivered', 3, 200, null]);

  assert.equal(rx.got.length, 3);
  assert.ok(rx.got.every((r) => r.verified), 'every attempt is signed at its own time');
  assert.ok(rx.got.every((r) => r.body === rx.got[0].body && r.headers['custos-delivery'] === id), 'same body and delivery id on every retry');
  assert.deepEqual(rx.got.map((r) => String(r.headers['custos-signature']).split(',')[0]), [`t=${T0 / 1000}`, `t=${T0 / 1000 + 1}`, `t=${T0 / 1000 + 3}`]);
});

test('after maxAttempts failures a delivery is failed; resend re-delivers it', async (t) => {
  const h = harness({ maxAttempts: 4, baseDelayMs: 1000, maxDelayMs: 3000 });
  const rx = await startReceiver(() => h.clock.ms);
  t.after(async () => { await rx.close(); await h.cleanup(); });
  const hook = await h.subscribe(rx.url, ['request.failed']);
  rx.state.secret = hook.secret;
  rx.state.fallback = 503;

  const [id] = h.d.emit('request.failed', { requestId: 'r2' });
  const expectedNext = [T0 + 1000, T0 + 3000, T0 + 6000]; // delays 1 s, 2 s, then capped at 3 s
  for (let i = 0; i < 3; i++) {
    assert.equal(await h.d.runDue(), 1);
    const row = h.store.getDelivery(id)!;
    assert.deepEqual([row.status, row.attempts, row.next_attempt_at], ['pending', i + 1, expectedNext[i]]);
    h.clock.ms = expectedNext[i];
  }
  assert.equal(await h.d.runDue(), 1);
  let row = h.store.getDelivery(id)!;
  assert.deepEqual([row.status, row.attempts, row.last_status], ['failed', 4, 503]);
  h.clock.ms += 24 * 3600_000;
  assert.equal(await h.d.runDue(), 0, 'a failed delivery is not retried on its own');
  assert.ok(h.lines.some((l) => l.includes('"webhook.failed"')));

  const failedList = await h.app.inject({ method: 'GET', url: `/v1/webhooks/${hook.id}/deliveries?status=failed` });
  assert.deepEqual(failedList.json().deliveries.map((x: { id: string }) => x.id), [id]);

  rx.state.fallback = 200;
  const resent = await h.app.inject({ method: 'POST', url: `/v1/webhooks/deliveries/${id}/resend` });
  assert.equal(resent.statusCode, 202);
  assert.equal(resent.json().status, 'pending');
  assert.equal(resent.json().attempts, 4, 'the attempt count is kept');
  assert.equal(resent.json().nextAttemptAt, new Date(h.clock.ms).toISOString(), 'due now');
  assert.equal(await h.d.runDue(), 1);
  row = h.store.getDelivery(id)!;
  assert.deepEqual([row.status, row.attempts], ['delivered', 5]);
  assert.equal(rx.got.length, 5);
  assert.ok(rx.got[4].verified);

  // A delivered delivery can be sent again too (the receiver lost it).
  assert.equal(h.d.resend(id).status, 'pending');
  assert.equal(await h.d.runDue(), 1);
  assert.equal(rx.got.length, 6);
  assert.throws(() => h.d.resend('no-such-delivery'), (e: { code?: string; status?: number }) => e.code === 'delivery.not_found' && e.status === 404);
});

test('a network error and a timeout are retried like an error status', async (t) => {
  const h = harness({ timeoutMs: 200 });
  const rx = await startReceiver(() => h.clock.ms);
  const dead = await startReceiver(() => h.clock.ms);
  await dead.close(); // nothing listens on its port any more
  t.after(async () => { await rx.close(); await h.cleanup(); });
  await h.subscribe(dead.url, ['*']);
  const hanging = await h.subscribe(rx.url, ['*']);
  rx.state.secret = hanging.secret;
  rx.state.hang = true;

  const ids = h.d.emit('request.signed', { requestId: 'r3' });
  assert.equal(await h.d.runDue(), 2);
  const rows = ids.map((id) => h.store.getDelivery(id)!);
  const byHook = new Map(rows.map((r) => [r.webhook_id, r]));
  const refused = [...byHook.values()].find((r) => r.webhook_id !== hanging.id)!;
  assert.equal(refused.status, 'pending');
  assert.match(refused.last_error!, /^network /);
  assert.equal(refused.last_status, null);
  assert.equal(refused.next_attempt_at, T0 + 1000);
  const timedOut = byHook.get(hanging.id)!;
  assert.equal(timedOut.status, 'pending');
  assert.equal(timedOut.last_error, 'timeout');
  assert.equal(timedOut.next_attempt_at, T0 + 1000);
  assert.equal(rx.got.length, 1, 'the hanging receiver did get the request');
});

test('a recorded delivery survives closing and reopening the database (crash before any attempt)', async (t) => {
  const h = harness();
  const rx = await startReceiver(() => h.clock.ms);
  t.after(async () => { await rx.close(); await h.cleanup(); });
  rx.state.secret = (await h.subscribe(rx.url, ['request.signed'])).secret;
  rx.state.answers = [500];

  const [first] = h.d.emit('request.signed', { requestId: 'r4' });
  assert.equal(await h.d.runDue(), 1, 'one failed attempt before the crash');
  const [second] = h.d.emit('request.signed', { requestId: 'r5' });
  h.db.close(); // the coordinator dies: no attempt for `second`, `first` waits for its retry
  assert.equal(rx.got.length, 1);

  const db2 = openDatabase(h.path);
  t.after(() => { if (db2.isOpen) db2.close(); });
  const store2 = new WebhookStore(db2);
  const d2 = new WebhookDispatcher({ store: store2, log: capturingLogger().log, now: () => h.clock.ms });
  assert.deepEqual([store2.getDelivery(first)!.status, store2.getDelivery(first)!.attempts, store2.getDelivery(first)!.next_attempt_at], ['pending', 1, T0 + 1000]);
  assert.equal(await d2.runDue(), 1, 'only the never-attempted one is due now');
  h.clock.ms = T0 + 1000;
  assert.equal(await d2.runDue(), 1);
  assert.equal(store2.getDelivery(first)!.status, 'delivered');
  assert.equal(store2.getDelivery(second)!.status, 'delivered');
  const delivered = rx.got.slice(1).map((r) => r.headers['custos-delivery']);
  assert.deepEqual(delivered, [second, first]);
  assert.ok(rx.got.every((r) => r.verified));
});

test('events go only to enabled webhooks subscribed to them by name or "*"', async (t) => {
  const h = harness({ concurrency: 2 });
  const rx = await startReceiver(() => h.clock.ms);
  t.after(async () => { await rx.close(); await h.cleanup(); });
  const signedOnly = await h.subscribe(`${rx.url}?w=signed`, ['request.signed']);
  const all = await h.subscribe(`${rx.url}?w=all`, ['*']);
  const keys = await h.subscribe(`${rx.url}?w=keys`, ['key.created', 'key.refreshed']);
  const off = await h.subscribe(`${rx.url}?w=off`, ['*']);
  assert.equal(h.store.setDisabled(off.id, true), true);

  const hooksOf = (ids: string[]) => ids.map((id) => h.store.getDelivery(id)!.webhook_id).sort();
  assert.deepEqual(hooksOf(h.d.emit('request.signed', {})), [signedOnly.id, all.id].sort());
  assert.deepEqual(hooksOf(h.d.emit('request.failed', {})), [all.id]);
  assert.deepEqual(hooksOf(h.d.emit('key.refreshed', {})), [keys.id, all.id].sort());
  assert.deepEqual(hooksOf(h.d.emit('request', {})), [all.id], 'no prefix matching, "*" takes everything');

  // A webhook disabled after an event keeps that delivery pending without attempting it.
  const [waiting] = h.d.emit('key.created', {}).filter((id) => h.store.getDelivery(id)!.webhook_id === keys.id);
  h.store.setDisabled(keys.id, true);
  assert.equal(await h.d.runDue(), 6, 'request.signed: 2, request.failed: 1, key.refreshed: 1, request: 1, key.created: 1 (keys disabled)');
  assert.equal(h.store.getDelivery(waiting)!.status, 'pending');
  assert.equal(rx.got.length, 6);
  assert.ok(rx.got.every((r) => r.headers['custos-signature']));
  assert.ok(!rx.got.some((r) => r.headers['custos-delivery'] === waiting));
  h.store.setDisabled(keys.id, false);
  assert.equal(await h.d.runDue(), 2, 'enabled again: its waiting deliveries (key.refreshed, key.created) go out');
  assert.equal(h.store.getDelivery(waiting)!.status, 'delivered');
});

test('started, the dispatcher sends an emitted event without a manual run', async (t) => {
  const h = harness();
  const rx = await startReceiver(() => h.clock.ms);
  t.after(async () => { await rx.close(); await h.cleanup(); });
  rx.state.secret = (await h.subscribe(rx.url, ['*'])).secret;
  h.d.start(3_600_000);
  const arrived = rx.next();
  const [id] = h.d.emit('request.signed', { requestId: 'r6' });
  const r = await arrived;
  assert.equal(r.headers['custos-delivery'], id);
  assert.equal(r.verified, true);
  await h.d.stop();
});

test('routes: validation is a 400 problem, unknown ids a 404 problem, secrets are never listed', async (t) => {
  const h = harness({}, { knownEvents: ['request.signed', 'request.failed', 'key.created'] });
  t.after(() => h.cleanup());
  const post = (payload: unknown) => h.app.inject({ method: 'POST', url: '/v1/webhooks', payload: payload as object });

  const bad: [unknown, string][] = [
    [{ url: 'ftp://example.com/x', events: ['*'] }, 'webhook.bad_url'],
    [{ url: 'not a url', events: ['*'] }, 'webhook.bad_url'],
    [{ url: 'https://user:pw@example.com/x', events: ['*'] }, 'webhook.bad_url'],
    [{ url: 'javascript:alert(1)', events: ['*'] }, 'webhook.bad_url'],
    [{ url: 'https://example.com/x', events: ['*'], secret: 'mine' }, 'request.schema'],
    [{ url: 'https://example.com/x', events: [] }, 'request.schema'],
    [{ url: 'https://example.com/x' }, 'request.schema'],
    [{ url: 'https://example.com/x', events: ['Request Signed'] }, 'request.schema'],
    [{ url: 'https://example.com/x', events: ['*', '*'] }, 'request.schema'],
    [{ url: 'https://example.com/x', events: 'request.signed' }, 'request.schema'],
    [{ url: 42, events: ['*'] }, 'request.schema'],
    [{ url: 'https://example.com/x', events: ['request.sigend'] }, 'webhook.unknown_event'],
  ];
  for (const [payload, code] of bad) {
    const r = await post(payload);
    assert.equal(r.statusCode, 400, JSON.stringify(payload));
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
    assert.equal(r.json().code, code, JSON.stringify(payload));
  }

  const a = await post({ url: 'https://example.com/hook?k=1', events: ['request.signed', 'request.failed'] });
  const b = await post({ url: 'http://10.0.0.5:8080/in', events: ['*'] });
  assert.equal(a.statusCode, 201);
  assert.equal(b.statusCode, 201);
  const created = a.json();
  assert.deepEqual(Object.keys(created).sort(), ['createdAt', 'events', 'id', 'secret', 'url']);
  assert.notEqual(created.secret, b.json().secret);

  const list = await h.app.inject({ method: 'GET', url: '/v1/webhooks' });
  assert.equal(list.statusCode, 200);
  assert.ok(!list.body.includes(created.secret) && !list.body.includes(b.json().secret), 'no secret in the listing');
  assert.ok(list.json().webhooks.every((w: Record<string, unknown>) => !('secret' in w)));
  assert.deepEqual(list.json().webhooks.map((w: { id: string }) => w.id).sort(), [created.id, b.json().id].sort());
  assert.deepEqual(list.json().webhooks.find((w: { id: string }) => w.id === created.id), { id: created.id, url: 'https://example.com/hook?k=1', events: ['request.signed', 'request.failed'], createdAt: created.createdAt, disabled: false });

  const deliveries = await h.app.inject({ method: 'GET', url: `/v1/webhooks/${created.id}/deliveries` });
  assert.deepEqual(deliveries.json(), { deliveries: [] });
  const ids = h.d.emit('request.signed', { x: 1 });
  const pending = await h.app.inject({ method: 'GET', url: `/v1/webhooks/${created.id}/deliveries?status=pending&limit=10` });
  assert.equal(pending.json().deliveries.length, 1);
  assert.ok(ids.includes(pending.json().deliveries[0].id));
  assert.equal(pending.json().deliveries[0].nextAttemptAt, new Date(T0).toISOString());
  assert.deepEqual((await h.app.inject({ method: 'GET', url: `/v1/webhooks/${created.id}/deliveries?status=delivered` })).json(), { deliveries: [] });
  for (const q of ['status=bogus', 'limit=0', 'limit=abc', 'other=1']) {
    const r = await h.app.inject({ method: 'GET', url: `/v1/webhooks/${created.id}/deliveries?${q}` });
    assert.equal(r.statusCode, 400, q);
    assert.equal(r.json().code, 'request.schema', q);
  }

  for (const [method, url, code] of [
    ['DELETE', '/v1/webhooks/nope', 'webhook.not_found'],
    ['GET', '/v1/webhooks/nope/deliveries', 'webhook.not_found'],
    ['POST', '/v1/webhooks/deliveries/nope/resend', 'delivery.not_found'],
  ] as const) {
    const r = await h.app.inject({ method, url });
    assert.equal(r.statusCode, 404, url);
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
    assert.equal(r.json().code, code);
  }

  const del = await h.app.inject({ method: 'DELETE', url: `/v1/webhooks/${created.id}` });
  assert.equal(del.statusCode, 204);
  assert.equal(del.body, '');
  assert.equal((await h.app.inject({ method: 'GET', url: `/v1/webhooks/${created.id}/deliveries` })).statusCode, 404);
  assert.equal(h.store.getDelivery(pending.json().deliveries[0].id), undefined, 'its deliveries go with it');
  assert.equal((await h.app.inject({ method: 'DELETE', url: `/v1/webhooks/${created.id}` })).statusCode, 404);
  assert.deepEqual(h.d.emit('request.signed', {}).map((id) => h.store.getDelivery(id)!.webhook_id), [b.json().id], 'a deleted webhook gets nothing more');
});

test('retryDelayMs doubles from the base and stops at the cap', () => {
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, 1000, 3_600_000)), [1000, 2000, 4000, 8000, 16000]);
  assert.equal(retryDelayMs(13, 1000, 3_600_000), 3_600_000);
  assert.equal(retryDelayMs(2000, 1000, 3_600_000), 3_600_000, 'no overflow for absurd counts');
});
