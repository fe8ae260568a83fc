import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newIdentity, verifyBy, type Identity, type Role } from '../../src/policy/identity.ts';
import { approvalDigestOf, parseApproval, parseSignRequest, signRequestDigest } from '../../src/policy/sign-request.ts';

/**
 * The client commands against a stand-in coordinator that records what it is sent: what matters
 * here is what the CLI signs and sends, not what a real cluster does with it (the cluster-level
 * tests cover that).
 */
type Seen = { method: string; url: string; auth: string | undefined; body: unknown };

async function fakeCoordinator(answer: (s: Seen) => [number, unknown]) {
  const seen: Seen[] = [];
  const body = (req: IncomingMessage) => new Promise<string>((res) => { let b = ''; req.on('data', (d) => { b += d; }); req.on('end', () => res(b)); });
  const server = createServer(async (req, res) => {
    const text = await body(req);
    const s = { method: req.method!, url: req.url!, auth: req.headers.authorization, body: text ? JSON.parse(text) : undefined };
    seen.push(s);
    const [status, json] = answer(s);
    res.writeHead(status, { 'content-type': status < 400 ? 'application/json' : 'application/problem+json' }).end(JSON.stringify(json));
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => new Promise<void>((res) => server.close(() => res())) };
}

/** Runs the CLI without blocking this process's event loop (the fake coordinator lives here). */
function cli(env: NodeJS.ProcessEnv, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'src/cli/main.ts', ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('exit', (status) => res({ status, stdout, stderr }));
  });
}

function credentials(dir: string, people: [string, Role[]][]): { file: string; ids: Record<string, Identity> } {
  const ids: Record<string, Identity> = {};
  const identities: Record<string, unknown> = {};
  for (const [id, roles] of people) {
    const m = newIdentity(id, roles);
    ids[id] = m.identity;
    identities[id] = { ...m.secret, roles, publicKey: m.identity.publicKey };
  }
  const file = join(dir, 'creds.json');
  writeFileSync(file, JSON.stringify({ identities }), { mode: 0o600 });
  return { file, ids };
}

/** The request the fake coordinator shows; the CLI must recompute its digest before approving. */
const REQUEST = parseSignRequest({ keyId: 'k1', payload: { type: 'digest', hex: 'ab'.repeat(32) }, initiator: 'ini', nonce: '00'.repeat(16), createdAt: '2026-11-21T00:00:00Z' });
const DIGEST = signRequestDigest(REQUEST);

test('requests approve signs the fetched request digest as the default approver; --reject and --expires-in are honoured', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'custos-requests-cli-'));
  const coord = await fakeCoordinator((s) => {
    if (s.method === 'GET' && s.url === '/v1/requests/r-1') return [200, { requestId: 'r-1', status: 'PENDING_APPROVAL', requestDigest: DIGEST, request: REQUEST }];
    // A relay showing one request while asking for the digest of another.
    if (s.method === 'GET' && s.url === '/v1/requests/r-3') return [200, { requestId: 'r-3', status: 'PENDING_APPROVAL', requestDigest: 'cd'.repeat(32), request: REQUEST }];
    if (s.method === 'POST' && s.url === '/v1/requests/r-1/approvals') return [200, { requestId: 'r-1', status: 'APPROVED' }];
    if (s.method === 'GET' && s.url === '/v1/requests/r-2') return [200, { requestId: 'r-2', status: 'SIGNED' }];
    return [404, { code: 'request.not_found', detail: `no ${s.url}` }];
  });
  try {
    const { file, ids } = credentials(dir, [['ini', ['initiator']], ['appr-1', ['approver']], ['appr-2', ['approver']]]);
    const env = { CUSTOS_HOME: dir, CUSTOS_URL: coord.url, CUSTOS_TOKEN: 'tok-123' };
    const before = Date.now();
    const r = await cli(env, ['requests', 'approve', 'r-1', '--credentials', file, '--expires-in', '3600']);
    const after = Date.now();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).status, 'APPROVED');
    assert.match(r.stderr, /appr-1 approved request r-1/);
    const post = coord.seen.find((s) => s.method === 'POST')!;
    assert.equal(post.auth, 'Bearer tok-123');
    const a = parseApproval(post.body);
    assert.deepEqual([a.requestDigest, a.approver, a.decision], [DIGEST, 'appr-1', 'approve']);
    assert.ok(verifyBy(ids['appr-1'], approvalDigestOf(a), a.signature));
    assert.ok(!verifyBy(ids['appr-2'], approvalDigestOf(a), a.signature));
    const exp = Date.parse(a.expiresAt);
    assert.ok(exp >= before + 3600_000 - 1000 && exp <= after + 3600_000 + 1000, `${a.expiresAt} is an hour after the command`);

    coord.seen.length = 0;
    const rej = await cli(env, ['requests', 'approve', 'r-1', '--credentials', file, '--as', 'appr-2', '--reject']);
    assert.equal(rej.status, 0, rej.stderr);
    const b = parseApproval(coord.seen.find((s) => s.method === 'POST')!.body);
    assert.deepEqual([b.approver, b.decision], ['appr-2', 'reject']);
    assert.ok(verifyBy(ids['appr-2'], approvalDigestOf(b), b.signature));

    // Nothing to approve, an unknown request, a bad flag, an identity not in the file: one line each.
    const done = await cli(env, ['requests', 'approve', 'r-2', '--credentials', file]);
    assert.equal(done.status, 1);
    assert.match(done.stderr, /^custos: request r-2 has no request digest to approve \(status SIGNED\) \[request\.not_pending\]\n$/);
    coord.seen.length = 0;
    const blind = await cli(env, ['requests', 'approve', 'r-3', '--credentials', file]);
    assert.equal(blind.status, 1);
    assert.match(blind.stderr, /does not hash to the digest .*\[approval\.digest_mismatch\]/);
    assert.equal(coord.seen.filter((s) => s.method === 'POST').length, 0, 'nothing was signed or sent');
    const missing = await cli(env, ['requests', 'approve', 'r-9', '--credentials', file]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^custos: no \/v1\/requests\/r-9 \[request\.not_found\]\n$/);
    const bad = await cli(env, ['requests', 'approve', 'r-1', '--credentials', file, '--expires-in', '1.5']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--expires-in .*\[cli\.usage\]\n$/);
    const who = await cli(env, ['requests', 'approve', 'r-1', '--credentials', file, '--as', 'nobody']);
    assert.equal(who.status, 1);
    assert.match(who.stderr, /^custos: identity "nobody" is not in .*creds\.json \[identity\.unknown\]\n$/);
    const noApprover = credentials(mkdtempSync(join(dir, 'x-')), [['ini', ['initiator']]]);
    const none = await cli(env, ['requests', 'approve', 'r-1', '--credentials', noApprover.file]);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /no identity with the approver role/);
  } finally {
    await coord.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('requests list and cancel send the filters and the reason; sign and policy evaluate send the same signed request', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'custos-requests-cli-'));
  const coord = await fakeCoordinator((s) => {
    if (s.url.startsWith('/v1/requests?')) return [200, { requests: [] }];
    if (s.url.endsWith('/cancel')) return [200, { requestId: 'r-1', status: 'CANCELLED' }];
    if (s.url === '/v1/policy/evaluate') return [200, { decision: 'approve', rule: 'big' }];
    if (s.url === '/v1/keys/k-1/sign') return [202, { requestId: 'r-3', status: 'PENDING_APPROVAL' }];
    return [404, { code: 'x.not_found', detail: s.url }];
  });
  try {
    const { file, ids } = credentials(dir, [['appr', ['approver']], ['ini', ['initiator']]]);
    const env = { CUSTOS_HOME: dir, CUSTOS_URL: coord.url, CUSTOS_TOKEN: 'tok' };
    const list = await cli(env, ['requests', 'list', '--status', 'PENDING_APPROVAL', '--key', 'k-1', '--initiator', 'ini', '--limit', '7']);
    assert.equal(list.status, 0, list.stderr);
    assert.deepEqual(Object.fromEntries(new URL(coord.url + coord.seen[0].url).searchParams), { status: 'PENDING_APPROVAL', keyId: 'k-1', initiator: 'ini', limit: '7' });
    const badStatus = await cli(env, ['requests', 'list', '--status', 'DONE']);
    assert.equal(badStatus.status, 2);
    assert.match(badStatus.stderr, /--status must be one of SUBMITTED, PENDING_APPROVAL/);

    const cancel = await cli(env, ['requests', 'cancel', 'r-1', '--reason', 'wrong amount']);
    assert.equal(cancel.status, 0, cancel.stderr);
    assert.deepEqual(coord.seen.at(-1)!.body, { reason: 'wrong amount' });

    const args = ['k-1', '--text', 'hello', '--to', '0x' + '11'.repeat(20), '--amount', '5', '--chain', 'eip155:1', '--credentials', file];
    const ev = await cli(env, ['policy', 'evaluate', ...args]);
    assert.equal(ev.status, 0, ev.stderr);
    assert.equal(JSON.parse(ev.stdout).decision, 'approve');
    const sign = await cli(env, ['sign', ...args]);
    assert.equal(sign.status, 0, sign.stderr);
    const [evBody, signBody] = [coord.seen.find((s) => s.url === '/v1/policy/evaluate')!.body, coord.seen.find((s) => s.url === '/v1/keys/k-1/sign')!.body] as { request: unknown; signature: string }[];
    for (const b of [evBody, signBody]) {
      const req = parseSignRequest(b.request);
      // No --as: the first initiator in the file, not the approver listed before it.
      assert.equal(req.initiator, 'ini');
      assert.deepEqual(req.payload, { type: 'message', hex: Buffer.from('hello').toString('hex') });
      assert.deepEqual(req.intent, { chain: 'eip155:1', to: '0x' + '11'.repeat(20), amount: '5' });
      assert.ok(verifyBy(ids.ini, Buffer.from(signRequestDigest(req), 'hex'), b.signature));
    }
    const noPayload = await cli(env, ['policy', 'evaluate', 'k-1', '--credentials', file]);
    assert.equal(noPayload.status, 2);
    assert.match(noPayload.stderr, /give exactly one of --hex/);
  } finally {
    await coord.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('policy push prints every node and fails unless every node activated the version', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'custos-requests-cli-'));
  let partial = true;
  const coord = await fakeCoordinator((s) => {
    if (s.method === 'POST' && s.url === '/v1/policy') {
      return [200, { version: 1, nodes: { 'node-1': { activated: true, version: 1 }, 'node-2': partial ? { error: { code: 'node.unreachable', detail: 'no answer', status: 503 } } : { activated: false, version: 1 } } }];
    }
    return [404, { code: 'x', detail: s.url }];
  });
  try {
    const admin = newIdentity('adm', ['admin']);
    const signedFile = join(dir, 'signed.json');
    const policy = { version: 1, identities: [admin.identity], adminThreshold: 1, assets: [], addressLists: [], groups: [], rules: [] };
    writeFileSync(signedFile, JSON.stringify({ policy, signatures: [{ admin: 'adm', signature: '00'.repeat(64) }] }));
    const env = { CUSTOS_HOME: dir, CUSTOS_URL: coord.url, CUSTOS_TOKEN: 'tok' };
    const r = await cli(env, ['policy', 'push', signedFile]);
    assert.equal(r.status, 1);
    assert.ok(JSON.parse(r.stdout).nodes['node-1'].activated);
    assert.match(r.stderr, /^custos: policy version 1 is not active on node-2 \(node\.unreachable: no answer\) \[policy\.partial\]\n$/);
    assert.deepEqual((coord.seen[0].body as { policy: unknown }).policy, policy);
    partial = false;
    const all = await cli(env, ['policy', 'push', signedFile]);
    assert.equal(all.status, 0, all.stderr);
  } finally {
    await coord.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('client commands with no coordinator fail on one line', () => {
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'src/cli/main.ts', 'requests', 'list', '--url', 'http://127.0.0.1:9'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^custos: cannot reach the coordinator at http:\/\/127\.0\.0\.1:9.*\n$/);
});
