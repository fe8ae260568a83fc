import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Transaction, computeAddress } from 'ethers';
import { toHex, utf8 } from '../../src/common/bytes.ts';
import { verifyWebhook } from '../../src/coordinator/webhook-signature.ts';
import { approvalBy, signPolicyAs } from '../../src/policy/client-signing.ts';
import { publicOf } from '../../src/cli/demo.ts';
import { parsePolicy } from '../../src/policy/document.ts';
import { genesisHash, parseGenesis } from '../../src/wire/genesis.ts';
import { readJson } from '../support/cluster.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';

/**
 * The request lifecycle through the real coordinator, on the demo policy (ETH transfers above
 * 1 ETH need one demo approver): 202 and PENDING_APPROVAL, approval, SIGNED with the signed
 * transaction; rejection; cancellation; listing; the dry run agreeing with the decision; and
 * signed webhooks for every transition, checked by a receiver with the webhook secret.
 */
const TO = '0x00000000000000000000000000000000000000aa';
const unsignedTx = (wei: bigint, nonce: number) => Transaction.from({ type: 2, chainId: 1, nonce, to: TO, value: wei, gasLimit: 21000, maxFeePerGas: 2n * 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n }).unsignedSerialized.slice(2);
const ETH = 10n ** 18n;

describe('request lifecycle, approvals and webhooks', () => {
  let c: TestCluster;
  let key: any;
  let receiver: Server;
  let secret = '';
  const events: { event: string; body: any; valid: boolean }[] = [];
  const sign = (wei: bigint, nonce: number) => c.sign(key.id, { payload: { type: 'eth-tx', hex: unsignedTx(wei, nonce) }, intent: { to: TO, amount: String(wei), asset: 'eth' } });

  before(async () => {
    c = await startTestCluster();
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        const valid = verifyWebhook(secret, req.headers['custos-signature'] as string, body, Math.floor(Date.now() / 1000));
        events.push({ event: String(req.headers['custos-event']), body: JSON.parse(body), valid });
        res.writeHead(valid ? 204 : 401).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const hook = await c.api('POST', '/v1/webhooks', { url: `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`, events: ['*'] });
    assert.equal(hook.status, 201, JSON.stringify(hook.json));
    secret = hook.json.secret;
    const k = await c.api('POST', '/v1/keys', { scheme: 'ecdsa-secp256k1', threshold: 2 });
    assert.equal(k.status, 201, JSON.stringify(k.json));
    key = k.json;
  });
  after(async () => {
    await c?.stop();
    await new Promise((r) => receiver.close(r));
  });

  /** Polls (bounded) until `pred` holds for request `id`. */
  async function until(id: string, pred: (r: any) => boolean): Promise<any> {
    for (let i = 0; i < 100; i++) {
      const r = (await c.api('GET', `/v1/requests/${id}`)).json;
      if (pred(r)) return r;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.fail(`request ${id} never reached the expected state`);
  }
  async function eventFor(id: string, event: string) {
    for (let i = 0; i < 100; i++) {
      const e = events.find((x) => x.event === event && x.body.data.requestId === id);
      if (e) return e;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.fail(`no ${event} webhook for ${id}`);
  }

  test('a small transfer signs at once and returns the signed transaction', async () => {
    const r = await sign(ETH / 2n, 0);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.status, 'SIGNED');
    const tx = Transaction.from('0x' + r.json.signedTransaction);
    assert.equal(tx.from, computeAddress('0x' + key.publicKey));
    assert.equal(tx.to?.toLowerCase(), TO);
    assert.equal(tx.value, ETH / 2n);
    const hook = await eventFor(r.json.requestId, 'request.signed');
    assert.equal(hook.valid, true, 'the webhook carries a valid HMAC signature');
  });

  test('a large transfer answers 202, waits for an approver, then signs; the dry run agreed', async () => {
    const body = c.authorization(key.id, { payload: { type: 'eth-tx', hex: unsignedTx(5n * ETH, 1) }, intent: { to: TO, amount: String(5n * ETH) } });
    const dry = await c.api('POST', '/v1/policy/evaluate', { request: body.request });
    assert.equal(dry.status, 200, JSON.stringify(dry.json));
    assert.equal(dry.json.decision, 'approve');
    assert.equal(dry.json.rule, 'demo-eth-over-1-needs-approval');
    assert.equal(dry.json.nodes.length, 3);
    const r = await c.api('POST', `/v1/keys/${key.id}/sign`, { request: body.request, signature: body.signature });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    assert.equal(r.json.status, 'PENDING_APPROVAL');
    assert.deepEqual(r.json.requirement.groups, [{ group: 'demo-approvers', threshold: 1 }]);
    assert.equal((await eventFor(r.json.requestId, 'request.pending_approval')).valid, true);
    const listed = await c.api('GET', '/v1/requests?status=PENDING_APPROVAL');
    assert.ok(listed.json.requests.some((x: any) => x.requestId === r.json.requestId));
    // An approval by someone who is not an approver, and one for another request, are refused.
    const byInitiator = approvalBy(c.creds.identities['demo-initiator'], r.json.requestDigest);
    assert.equal((await c.api('POST', `/v1/requests/${r.json.requestId}/approvals`, byInitiator)).status, 403);
    const wrong = approvalBy(c.creds.identities['demo-approver-1'], '00'.repeat(32));
    const w = await c.api('POST', `/v1/requests/${r.json.requestId}/approvals`, wrong);
    assert.equal(w.status, 400);
    assert.equal(w.json.code, 'approval.wrong_request');
    const ok = await c.api('POST', `/v1/requests/${r.json.requestId}/approvals`, approvalBy(c.creds.identities['demo-approver-1'], r.json.requestDigest));
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    const done = await until(r.json.requestId, (x) => x.status === 'SIGNED' || x.status === 'FAILED');
    assert.equal(done.status, 'SIGNED', JSON.stringify(done));
    assert.equal(Transaction.from('0x' + done.signedTransaction).from, computeAddress('0x' + key.publicKey));
    assert.deepEqual(done.approvals.map((a: any) => a.approver), ['demo-approver-1']);
    for (const e of ['request.approved', 'request.signed']) assert.equal((await eventFor(r.json.requestId, e)).valid, true);
  });

  test('an approver can reject, and a client can cancel, a pending request', async () => {
    const a = await sign(3n * ETH, 2);
    assert.equal(a.status, 202);
    const rej = await c.api('POST', `/v1/requests/${a.json.requestId}/approvals`, approvalBy(c.creds.identities['demo-approver-2'], a.json.requestDigest, 'reject'));
    assert.equal(rej.json.status, 'REJECTED');
    assert.match(rej.json.reason, /demo-approver-2 rejected/);
    await eventFor(a.json.requestId, 'request.rejected');
    const b = await sign(4n * ETH, 3);
    const cancelled = await c.api('POST', `/v1/requests/${b.json.requestId}/cancel`, { reason: 'wrong amount' });
    assert.equal(cancelled.json.status, 'CANCELLED');
    assert.equal(cancelled.json.reason, 'wrong amount');
    const again = await c.api('POST', `/v1/requests/${b.json.requestId}/cancel`, {});
    assert.equal(again.status, 409);
    const late = await c.api('POST', `/v1/requests/${b.json.requestId}/approvals`, approvalBy(c.creds.identities['demo-approver-1'], b.json.requestDigest));
    assert.equal(late.status, 409);
    assert.equal(late.json.code, 'request.not_pending');
    await eventFor(b.json.requestId, 'request.cancelled');
    const byInitiator = await c.api('GET', '/v1/requests?initiator=demo-initiator&status=CANCELLED');
    assert.deepEqual(byInitiator.json.requests.map((x: any) => x.requestId), [b.json.requestId]);
  });

  test('a raw message to a FROST key and the policy introspection', async () => {
    const k = await c.api('POST', '/v1/keys', { scheme: 'frost-ed25519', threshold: 2 });
    const s = await c.sign(k.json.id, { payload: { type: 'message', hex: toHex(utf8('hello')) } });
    assert.equal(s.status, 200, JSON.stringify(s.json));
    const p = await c.api('GET', '/v1/policy');
    assert.equal(p.json.version, 1);
    assert.deepEqual(Object.values(p.json.nodes).map((n: any) => n.version), [1, 1, 1]);
    assert.equal(p.json.signatures.length, 2);
  });

  test('timelock and expiry: an approved request waits for its timelock, an unapproved one expires', async () => {
    const p2 = parsePolicy({
      version: 2, identities: Object.values(c.creds.identities).map(publicOf), adminThreshold: 2, assets: [], addressLists: [],
      groups: [{ id: 'demo-approvers', members: ['demo-approver-1', 'demo-approver-2'] }],
      rules: [{ id: 'digests-wait', match: { txTypes: ['raw-digest'] }, action: { type: 'approve', groups: [{ group: 'demo-approvers', threshold: 1 }], timelockSeconds: 2, expirySeconds: 4 } }],
    });
    const admins = Object.values(c.creds.identities).filter((i) => i.roles.includes('admin'));
    const pushed = await c.api('POST', '/v1/policy', signPolicyAs(genesisHash(parseGenesis(readJson(`${c.home}/genesis.json`))), p2, admins));
    assert.equal(pushed.status, 200, JSON.stringify(pushed.json));
    const digest = (t: string) => ({ payload: { type: 'digest', hex: toHex(new Uint8Array(32).fill(t.charCodeAt(0))) } });
    const a = await c.sign(key.id, digest('a'));
    const b = await c.sign(key.id, digest('b'));
    assert.deepEqual([a.status, b.status], [202, 202]);
    const approved = await c.api('POST', `/v1/requests/${a.json.requestId}/approvals`, approvalBy(c.creds.identities['demo-approver-1'], a.json.requestDigest));
    assert.equal(approved.json.status, 'APPROVED', 'approved, but inside its timelock');
    assert.ok(Date.parse(approved.json.notBefore) > Date.parse(approved.json.createdAt));
    const signed = await until(a.json.requestId, (x) => !['APPROVED', 'SIGNING'].includes(x.status));
    assert.equal(signed.status, 'SIGNED', JSON.stringify(signed));
    const expired = await until(b.json.requestId, (x) => x.status !== 'PENDING_APPROVAL');
    assert.equal(expired.status, 'EXPIRED');
    await eventFor(b.json.requestId, 'request.expired');
    const late = await c.api('POST', `/v1/requests/${b.json.requestId}/approvals`, approvalBy(c.creds.identities['demo-approver-1'], b.json.requestDigest));
    assert.equal(late.status, 409);
  });

  test('custos audit verify: the coordinator\'s own log, and a node\'s log against its peers\' countersignatures', async () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'src/cli/main.ts', 'audit', 'verify', '--genesis', join(c.home, 'genesis.json'), '--url', c.url, ...args], { encoding: 'utf8', env: { ...process.env, CUSTOS_HOME: c.home } });
    const coord = cli('--party', 'coordinator');
    assert.equal(coord.status, 0, coord.stderr);
    const text = (await c.api('GET', '/v1/audit')).json as string;
    const kinds = text.trim().split('\n').map((l) => JSON.parse(l).kind);
    for (const k of ['key.created', 'request.submitted', 'request.decided', 'request.approval', 'request.signed', 'request.rejected', 'request.cancelled', 'request.expired', 'policy.proposed', 'policy.activated']) assert.ok(kinds.includes(k), `coordinator logged ${k}`);
    const file = join(c.home, 'coordinator-audit.jsonl');
    writeFileSync(file, text.replace('"request.approval"', '"request.approvaI"'));
    const edited = cli('--party', 'coordinator', '--file', file);
    assert.equal(edited.status, 1);
    assert.match(edited.stderr, /was edited[\s\S]*audit\.edited/);

    const peers = ['--peer', `node-2=${c.nodeUrl('node-2')}`, '--peer', `node-3=${c.nodeUrl('node-3')}`];
    const ok = cli('--party', 'node-1', '--node-url', c.nodeUrl('node-1'), ...peers);
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(JSON.parse(ok.stdout).countersignaturesChecked >= 1, ok.stdout);
    // node-1's log cut short, checked with no coordinator anchors at all: the peers' logs catch it.
    const lines = (await (await fetch(`${c.nodeUrl('node-1')}/v1/audit`)).text()).trim().split('\n');
    const none = join(c.home, 'no-anchors.json');
    writeFileSync(none, JSON.stringify({ anchors: [] }));
    writeFileSync(file, lines.slice(0, 2).join('\n') + '\n');
    const cut = cli('--party', 'node-1', '--file', file, '--anchors', none, ...peers);
    assert.equal(cut.status, 1);
    assert.match(cut.stderr, /countersigned[\s\S]*audit\.truncated/);
  });
});
