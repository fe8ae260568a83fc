import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8 } from '../../src/common/bytes.ts';
import { publicOf } from '../../src/cli/demo.ts';
import { parsePolicy } from '../../src/policy/document.ts';
import { approvalBy, signPolicyAs } from '../../src/policy/client-signing.ts';
import { signRequestDigest, type Authorization } from '../../src/policy/sign-request.ts';
import { genesisHash, parseGenesis } from '../../src/wire/genesis.ts';
import { apiAt, readJson, startTestCluster, type TestCluster } from '../support/cluster.ts';

/**
 * Issue 4 acceptance: the coordinator is replaced by a hostile one (this test talks to the nodes'
 * own API). It tries to sign a payload other than the approved one, to submit requests nobody
 * (or the wrong person) signed, to replay and forge approvals, to push unsigned, under-signed and
 * older policies, and to reset velocity by routing to other nodes. Every node refuses each, writes
 * an audit entry naming the reason, and no signature share comes out.
 */
describe('a hostile coordinator cannot get around any node\'s policy', () => {
  let c: TestCluster;
  let keyId = '';
  /** A second key, only for the velocity case (counters are per key and asset). */
  let velocityKey = '';
  let cluster = '';
  const node = (id: string) => apiAt(c.nodeUrl(id));
  const admins = () => Object.values(c.creds.identities).filter((i) => i.roles.includes('admin'));

  before(async () => {
    c = await startTestCluster();
    cluster = genesisHash(parseGenesis(readJson(`${c.home}/genesis.json`)));
    const k = await c.api('POST', '/v1/keys', { scheme: 'frost-ed25519', threshold: 2 });
    assert.equal(k.status, 201, JSON.stringify(k.json));
    keyId = k.json.id;
    const v = await c.api('POST', '/v1/keys', { scheme: 'frost-ed25519', threshold: 2 });
    velocityKey = v.json.id;
    // Version 2, signed by both demo admins: raw messages at most once an hour per key (a 2-of-3
    // key, so any two quorums share a node); raw digests need both demo approvers.
    const p2 = parsePolicy({
      version: 2, identities: Object.values(c.creds.identities).map(publicOf), adminThreshold: 2, assets: [], addressLists: [],
      groups: [{ id: 'demo-approvers', members: ['demo-approver-1', 'demo-approver-2'] }],
      rules: [
        { id: 'one-message-an-hour', match: { keys: [velocityKey], txTypes: ['raw-message'], velocity: [{ windowSeconds: 3600, maxCount: 1, per: 'key' }] }, action: { type: 'allow' } },
        { id: 'digests-need-two', match: { keys: [keyId], txTypes: ['raw-digest'] }, action: { type: 'approve', groups: [{ group: 'demo-approvers', threshold: 2 }], timelockSeconds: 0, expirySeconds: 3600 } },
      ],
    });
    const pushed = await c.api('POST', '/v1/policy', signPolicyAs(cluster, p2, admins()));
    assert.equal(pushed.status, 200, JSON.stringify(pushed.json));
  });
  after(async () => { await c?.stop(); });

  async function nonces(quorum: string[], key: string) {
    return Promise.all(quorum.map(async (p) => (await node(p)('POST', '/v1/nonces', { keyId: key, quorum, count: 1 })).json.commitments[0]));
  }
  /** Phase one of FROST signing, driven by the hostile coordinator: every answer, per node. */
  async function reserve(quorum: string[], session: string, message: string, authorization: { request: { keyId: string }; [k: string]: unknown }) {
    const keyId = authorization.request.keyId;
    const commitments = await nonces(quorum, keyId);
    return Promise.all(quorum.map((p) => node(p)('POST', '/v1/sign/reserve', { sessionId: session, keyId, message, commitments, authorization })));
  }
  async function lastAudit(id: string) {
    const lines = (await (await fetch(`${c.nodeUrl(id)}/v1/audit`)).text()).trim().split('\n');
    return JSON.parse(lines[lines.length - 1]) as { kind: string; data: { code: string } };
  }
  /** Every answer is a refusal with `code`, and each refusing node audited it. */
  async function allRefuse(answers: { status: number; json: any }[], quorum: string[], code: string, kind = 'request.refused') {
    for (const [i, r] of answers.entries()) {
      assert.equal(r.status, 403, `${quorum[i]}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.code, code);
      assert.equal(r.json.payload, undefined, 'no receipt, no share');
      const entry = await lastAudit(quorum[i]);
      assert.equal(entry.kind, kind);
      assert.equal(entry.data.code, code);
    }
  }
  const msg = (text: string) => ({ payload: { type: 'message', hex: toHex(utf8(text)) } });
  const digest = (text: string) => ({ payload: { type: 'digest', hex: toHex(sha256(utf8(text))) } });

  test('a request nobody signed, or signed by someone without the initiator role, is refused', async () => {
    const a = c.authorization(keyId, msg('pay mallory'));
    const unsigned: Authorization = { ...a, signature: c.authorization(keyId, msg('something else')).signature };
    await allRefuse(await reserve(['node-1', 'node-2'], 'h.unsigned', a.request.payload.hex, unsigned), ['node-1', 'node-2'], 'request.bad_signature');
    const byApprover = c.authorization(keyId, msg('pay mallory'), [], 'demo-approver-1');
    await allRefuse(await reserve(['node-1', 'node-2'], 'h.role', byApprover.request.payload.hex, byApprover), ['node-1', 'node-2'], 'request.not_initiator');
  });

  test('approvals: replayed from another request or forged are refused; approved bytes cannot be swapped', async () => {
    const approved = c.authorization(keyId, digest('release 10 BTC to cold storage'));
    const d1 = signRequestDigest(approved.request);
    for (const p of ['node-1', 'node-2', 'node-3']) assert.equal((await node(p)('POST', '/v1/requests/register', { authorization: approved })).status, 200);
    approved.approvals = [approvalBy(c.creds.identities['demo-approver-1'], d1), approvalBy(c.creds.identities['demo-approver-2'], d1)];
    // Without its approvals the request is refused.
    await allRefuse(await reserve(['node-2', 'node-3'], 'h.none', approved.request.payload.hex, { ...approved, approvals: [] }), ['node-2', 'node-3'], 'approval.insufficient');
    // The approvals of that request, replayed on another one.
    const other = c.authorization(keyId, digest('release 500 BTC to mallory'), approved.approvals);
    await allRefuse(await reserve(['node-1', 'node-3'], 'h.replay', other.request.payload.hex, other), ['node-1', 'node-3'], 'approval.wrong_request');
    // A forged approval: demo-approver-2's name, demo-approver-1's signature.
    const forged = { ...approved.approvals[1], signature: approved.approvals[0].signature };
    await allRefuse(await reserve(['node-1', 'node-2'], 'h.forged', approved.request.payload.hex, { ...approved, approvals: [approved.approvals[0], forged] }), ['node-1', 'node-2'], 'approval.bad_signature');
    // The approved request, but other bytes to sign.
    const swapped = toHex(sha256(utf8('release 500 BTC to mallory')));
    const sw = await reserve(['node-1', 'node-2'], 'h.swap', swapped, approved);
    for (const [i, r] of sw.entries()) {
      assert.equal(r.status, 403, JSON.stringify(r.json));
      assert.equal(r.json.code, 'sign.payload_mismatch');
      assert.equal((await lastAudit(['node-1', 'node-2'][i])).data.code, 'sign.payload_mismatch');
    }
    // The honest path still works: approved request, its own bytes.
    const ok = await reserve(['node-1', 'node-2'], 'h.ok', approved.request.payload.hex, approved);
    assert.deepEqual(ok.map((r) => r.status), [200, 200], JSON.stringify(ok.map((r) => r.json)));
  });

  test('unsigned, under-signed and older policies are refused by every node', async () => {
    const nodes = ['node-1', 'node-2', 'node-3'];
    const current = (await node('node-1')('GET', '/v1/policy')).json;
    const loose = parsePolicy({ ...current.policy, version: 3, rules: [{ id: 'anything', match: {}, action: { type: 'allow' } }] });
    const push = (body: unknown) => Promise.all(nodes.map((p) => node(p)('POST', '/v1/policy', body)));
    await allRefuse(await push({ policy: loose, signatures: [] }), nodes, 'policy.unsigned', 'policy.refused');
    await allRefuse(await push(signPolicyAs(cluster, loose, admins().slice(0, 1))), nodes, 'policy.under_signed', 'policy.refused');
    const initiatorSigned = signPolicyAs(cluster, loose, [admins()[0], c.creds.identities['demo-initiator']]);
    await allRefuse(await push(initiatorSigned), nodes, 'policy.bad_signature', 'policy.refused');
    const older = signPolicyAs(cluster, parsePolicy({ ...current.policy, version: 1, rules: [{ id: 'anything', match: {}, action: { type: 'allow' } }] }), admins());
    await allRefuse(await push(older), nodes, 'policy.rollback', 'policy.refused');
    for (const p of nodes) assert.equal((await node(p)('GET', '/v1/policy')).json.version, 2);
  });

  test('velocity cannot be reset by routing the next request to other nodes', async () => {
    const first = c.authorization(velocityKey, msg('the one message this hour'));
    const r1 = await reserve(['node-1', 'node-2'], 'v.first', first.request.payload.hex, first);
    assert.deepEqual(r1.map((r) => r.status), [200, 200], JSON.stringify(r1.map((r) => r.json)));
    const second = c.authorization(velocityKey, msg('a second message'));
    // node-2 has counted the first; node-3 has not, but cannot sign alone (it needs node-2's receipt).
    const r2 = await reserve(['node-2', 'node-3'], 'v.second', second.request.payload.hex, second);
    assert.equal(r2[0].status, 403);
    assert.equal(r2[0].json.code, 'policy.denied');
    assert.match(r2[0].json.context.reasons.join(' '), /count 2 over 3600s would exceed 1/);
    assert.equal((await lastAudit('node-2')).data.code, 'policy.denied');
    const share = await node('node-3')('POST', '/v1/sign/share', { sessionId: 'v.second', receipts: [] });
    assert.equal(share.status, 400, 'node-3 releases nothing without its co-signer');
    const r3 = await reserve(['node-1', 'node-3'], 'v.third', second.request.payload.hex, second);
    assert.equal(r3[0].status, 403);
    assert.equal(r3[0].json.code, 'policy.denied');
    // Through the real coordinator the same request is refused as well.
    const viaApi = await c.sign(velocityKey, msg('a third message'));
    assert.equal(viaApi.status, 403, JSON.stringify(viaApi.json));
    assert.equal(viaApi.json.code, 'policy.denied');
  });
});
