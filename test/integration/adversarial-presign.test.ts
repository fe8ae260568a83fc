import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { apiAt, startTestCluster, type TestCluster } from '../support/cluster.ts';

/**
 * A malicious party in presigning, against real honest nodes (SoftHSM, separate processes): the
 * honest node names it, retires their OT setup for good, ends every session it was running with
 * it, and releases nothing computed from the failed session.
 */
describe('a receiver that fails the OT-extension check', () => {
  let c: TestCluster;
  let key: any;
  let cheat = false;
  before(async () => {
    c = await startTestCluster({
      malicious: {
        ecdsa: {
          // node-3 as Bob: one flipped bit in its OT-extension matrix to node-1.
          presign: (round, to, payload: any) => {
            if (!cheat || round !== 'presign/1' || to !== 'node-1') return payload;
            const u: string = payload.ote[0].u;
            const flipped = u.slice(0, 10) + (u[10] === '0' ? '1' : '0') + u.slice(11);
            return { ...payload, ote: [{ ...payload.ote[0], u: flipped }, ...payload.ote.slice(1)] };
          },
        },
      },
    });
    const k = await c.api('POST', '/v1/keys', { scheme: 'ecdsa-secp256k1', threshold: 2 });
    assert.equal(k.status, 201, JSON.stringify(k.json));
    key = k.json;
  });
  after(async () => { await c?.stop(); });
  const node = (id: string) => apiAt(c.nodeUrl(id));
  const quorum = ['node-1', 'node-3'];
  const round1 = (sessionId: string) => Promise.all(quorum.map((p) => node(p)('POST', '/v1/presign/round1', { sessionId, keyId: key.id, quorum, presignIds: [randomUUID()] })));
  const route = (rs: { json: any }[], p: string) => rs.flatMap((r) => r.json.messages).filter((e: any) => e.from !== p && (e.to === '*' || e.to === p));

  test('is named, its pair is retired, and a session running beside it is ended', async () => {
    const honest = await round1('presign.beside');
    assert.deepEqual(honest.map((r) => r.status), [200, 200]);
    cheat = true;
    const bad = await round1('presign.cheat');
    cheat = false;
    assert.deepEqual(bad.map((r) => r.status), [200, 200]);
    const r2 = await node('node-1')('POST', '/v1/presign/round2', { sessionId: 'presign.cheat', messages: route(bad, 'node-1') });
    assert.equal(r2.status, 502, JSON.stringify(r2.json));
    assert.equal(r2.json.code, 'dkls.ote_check');
    assert.equal(r2.json.culprit, 'node-3');
    assert.ok(!('messages' in r2.json), 'nothing computed from the failed session is released');

    // The session that was running beside it with the same peer ends too.
    const beside = await node('node-1')('POST', '/v1/presign/round2', { sessionId: 'presign.beside', messages: route(honest, 'node-1') });
    assert.equal(beside.status, 409, JSON.stringify(beside.json));
    assert.equal(beside.json.code, 'presign.aborted');
    // And no new one can start: the pair's base OTs are never used again.
    const again = await node('node-1')('POST', '/v1/presign/round1', { sessionId: 'presign.again', keyId: key.id, quorum, presignIds: [randomUUID()] });
    assert.equal(again.status, 409);
    assert.equal(again.json.code, 'presign.pair_retired');
    // Quorums without the culprit are unaffected.
    const other = await Promise.all(['node-1', 'node-2'].map((p) => node(p)('POST', '/v1/presign/round1', { sessionId: 'presign.other', keyId: key.id, quorum: ['node-1', 'node-2'], presignIds: [randomUUID()] })));
    assert.deepEqual(other.map((r) => r.status), [200, 200]);
  });

  test('the coordinator keeps signing through quorums without the retired pair', async () => {
    // Empty every pool so that the coordinator must also meet the retired quorum and move on.
    for (let i = 0; i < 6; i++) {
      const r = await c.sign(key.id, { payload: { type: 'digest', hex: 'ab'.repeat(32) } });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.ok(!(r.json.signers.includes('node-1') && r.json.signers.includes('node-3')), JSON.stringify(r.json.signers));
    }
    // With node-2 down only the retired pair is left: the call fails with a clear refusal.
    await c.killNode('node-2');
    const left = await c.sign(key.id, { payload: { type: 'digest', hex: 'cd'.repeat(32) } });
    assert.equal(left.status, 409, JSON.stringify(left.json));
    assert.equal(left.json.code, 'presign.pair_retired');
  });
});
