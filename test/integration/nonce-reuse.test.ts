import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromHex, toHex, utf8 } from '../../src/common/bytes.ts';
import { aggregate } from '../../src/protocols/frost/index.ts';
import { apiAt, restoreDir, snapshotDir, startTestCluster, type TestCluster } from '../support/cluster.ts';

/**
 * Single use of FROST nonces, attacked by a hostile coordinator (this test drives the nodes'
 * own API directly) after a node's whole data directory, HSM token included, was restored from
 * an older copy. The restored node believes a used nonce is fresh; its co-signer remembers.
 */
describe('nonce single use survives a restored node', () => {
  let c: TestCluster;
  let keyId = '';
  let pub: any;
  before(async () => {
    c = await startTestCluster();
    const k = await c.api('POST', '/v1/keys', { scheme: 'frost-ed25519', threshold: 2 });
    assert.equal(k.status, 201, JSON.stringify(k.json));
    keyId = k.json.id;
    pub = (await apiAt(c.nodeUrl('node-1'))('GET', `/v1/keys/${keyId}/public`)).json;
  });
  after(async () => { await c?.stop(); });

  const node = (id: string) => apiAt(c.nodeUrl(id));
  const quorum = ['node-1', 'node-2'];

  async function reserve(session: string, message: Uint8Array, commitments: any[]) {
    // Each node checks the initiator-signed request the message comes from.
    const authorization = c.authorization(keyId, { payload: { type: 'message', hex: toHex(message) } });
    return Promise.all(quorum.map((p) => node(p)('POST', '/v1/sign/reserve', { sessionId: session, keyId, message: toHex(message), commitments, authorization })));
  }

  test('a hostile coordinator cannot make a restored node reuse a nonce', async () => {
    const a = (await node('node-1')('POST', '/v1/nonces', { keyId, quorum, count: 2 })).json.commitments;
    const b = (await node('node-2')('POST', '/v1/nonces', { keyId, quorum, count: 2 })).json.commitments;
    assert.equal(a.length, 2);

    // Back up node-1 (stopped, so the copy is consistent), as an operator's backup would be.
    await c.restartNode('node-1');
    const backup = snapshotDir(c.nodeDir('node-1'));

    // Honest use of (a[0], b[0]) for m1.
    const m1 = utf8('transfer 1 to alice');
    const s1 = await reserve('s1', m1, [a[0], b[0]]);
    assert.deepEqual(s1.map((r) => r.status), [200, 200], JSON.stringify(s1.map((r) => r.json)));
    const shares1 = await Promise.all(quorum.map((p, i) => node(p)('POST', '/v1/sign/share', { sessionId: 's1', receipts: [s1[1 - i].json] })));
    assert.deepEqual(shares1.map((r) => r.status), [200, 200], JSON.stringify(shares1.map((r) => r.json)));
    const sig = aggregate(pub, [a[0], b[0]], m1, { 'node-1': shares1[0].json.payload.share, 'node-2': shares1[1].json.payload.share });
    assert.ok(ed25519.verify(fromHex(sig), m1, fromHex(pub.publicKey)));

    // node-1's whole data directory (SQLite and SoftHSM token) is restored from the backup.
    await c.killNode('node-1');
    restoreDir(backup, c.nodeDir('node-1'));
    await c.restartNode('node-1');

    // Reuse a[0] for another message: node-1 (restored) would go along, node-2 refuses.
    const m2 = utf8('transfer 1000 to mallory');
    const s2 = await reserve('s2', m2, [a[0], b[1]]);
    assert.equal(s2[0].status, 200, 'the restored node does not know its nonce was used');
    assert.equal(s2[1].status, 409);
    assert.equal(s2[1].json.code, 'nonce.reused');
    assert.match(s2[1].json.detail, /node-1/);
    // Without node-2's receipt, node-1 releases nothing: no receipts, or the old session's receipt.
    const noReceipt = await node('node-1')('POST', '/v1/sign/share', { sessionId: 's2', receipts: [] });
    assert.equal(noReceipt.status, 400);
    assert.equal(noReceipt.json.code, 'envelope.missing');
    const oldReceipt = await node('node-1')('POST', '/v1/sign/share', { sessionId: 's2', receipts: [s1[1].json] });
    assert.equal(oldReceipt.status, 403);
    assert.equal(oldReceipt.json.code, 'envelope.wrong_session');
    // Reusing the same session id with the new message does not help either.
    const sameSession = await reserve('s1', m2, [a[0], b[1]]);
    assert.equal(sameSession[1].status, 409);
    // b[0] was burned on node-2: it cannot be used again at all.
    const s3 = await reserve('s3', m2, [a[1], b[0]]);
    assert.equal(s3[1].status, 409);
    assert.equal(s3[1].json.code, 'nonce.reused');
  });

  test('deeply nested hostile JSON is a 4xx, not a crash', async () => {
    // Built as text: even JSON.stringify cannot serialise this depth.
    const deep = '['.repeat(100_000) + '"x"' + ']'.repeat(100_000);
    const env = `{"v":1,"cluster":"c","session":"s","round":"sign/receipt","from":"node-2","to":"*","sig":"00","payload":${deep}}`;
    const r = await node('node-1')('POST', '/v1/sign/share', `{"sessionId":"nope","receipts":[${env}]}`);
    assert.ok(r.status >= 400 && r.status < 500, `${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
    const commit = `{"keyId":"${keyId}","quorum":["node-1","node-2"],"party":"node-2","nonceId":${deep},"hiding":"00","binding":"00","sig":"00"}`;
    const r2 = await node('node-1')('POST', '/v1/sign/reserve', `{"sessionId":"deep","keyId":"${keyId}","message":"00","commitments":[${commit},${commit}]}`);
    assert.ok(r2.status >= 400 && r2.status < 500, `${r2.status} ${JSON.stringify(r2.json).slice(0, 200)}`);
    assert.equal((await node('node-1')('GET', '/v1/info')).status, 200);
  });

  test('replayed messages are refused, also after a restart', async () => {
    const a = (await node('node-1')('POST', '/v1/nonces', { keyId, quorum, count: 1 })).json.commitments;
    const b = (await node('node-2')('POST', '/v1/nonces', { keyId, quorum, count: 1 })).json.commitments;
    const m = utf8('replay me');
    const r = await reserve('r1', m, [a[0], b[0]]);
    assert.deepEqual(r.map((x) => x.status), [200, 200]);
    await c.restartNode('node-2');
    // node-1's receipt of session r1 replayed into another session of node-2.
    const other = await node('node-2')('POST', '/v1/sign/share', { sessionId: 'r2', receipts: [r[0].json] });
    assert.equal(other.status, 404);
    const s = await node('node-2')('POST', '/v1/sign/reserve', { sessionId: 'r1', keyId, message: toHex(utf8('other')), commitments: [a[0], b[0]], authorization: c.authorization(keyId, { payload: { type: 'message', hex: toHex(utf8('other')) } }) });
    assert.equal(s.status, 409);
    assert.equal(s.json.code, 'envelope.replayed');
    // A receipt tampered in transit is refused and blamed on the relay.
    const forged = { ...r[0].json, payload: { ...r[0].json.payload, binding: '00'.repeat(32) } };
    const f = await node('node-2')('POST', '/v1/sign/share', { sessionId: 'r1', receipts: [forged] });
    assert.equal(f.status, 403);
    assert.equal(f.json.code, 'envelope.bad_signature');
    assert.equal(f.json.culprit, 'coordinator');
    // The genuine receipt still completes the session, once; a repeat returns the same share.
    const ok1 = await node('node-2')('POST', '/v1/sign/share', { sessionId: 'r1', receipts: [r[0].json] });
    await c.restartNode('node-2');
    const ok2 = await node('node-2')('POST', '/v1/sign/share', { sessionId: 'r1', receipts: [r[0].json] });
    assert.equal(ok1.status, 200);
    assert.deepEqual(ok2.json, ok1.json);
  });
});
