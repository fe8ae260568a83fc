import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromHex, toHex, utf8 } from '../../src/common/bytes.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';

/** node-3 releases wrong signature shares; the coordinator must refuse the result and name it. */
describe('a node that sends a wrong signature share is named', () => {
  let c: TestCluster;
  before(async () => {
    c = await startTestCluster({ malicious: { signatureShare: () => toHex(ed25519.Point.Fn.toBytes(ed25519.Point.Fn.create(BigInt('0x' + randomBytes(32).toString('hex'))))) } });
  });
  after(async () => { await c?.stop(); });

  test('bad share -> 502 problem naming node-3; honest quorum still signs', async () => {
    const k = await c.api('POST', '/v1/keys', { scheme: 'frost-ed25519', threshold: 2 });
    assert.equal(k.status, 201, JSON.stringify(k.json));
    const msg = utf8('pay 5');
    // With all three up the coordinator may pick node-1 + node-2; take node-2 away so node-3 must sign.
    await c.killNode('node-2');
    const bad = await c.sign(k.json.id, { payload: { type: 'message', hex: toHex(msg) } });
    assert.equal(bad.status, 502, JSON.stringify(bad.json));
    assert.equal(bad.json.code, 'frost.bad_share');
    assert.equal(bad.json.culprit, 'node-3');
    assert.match(bad.contentType, /problem\+json/);
    await c.restartNode('node-2');
    await c.api('GET', '/healthz');
    // node-3 is now quarantined: with node-2 back, the coordinator routes around it.
    for (let i = 0; i < 3; i++) {
      const r = await c.sign(k.json.id, { payload: { type: 'message', hex: toHex(msg) } });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.deepEqual(r.json.signers, ['node-1', 'node-2']);
      assert.ok(ed25519.verify(fromHex(r.json.signature), msg, fromHex(k.json.publicKey)));
    }
    const m = await c.api('GET', '/metrics');
    assert.match(m.json, /custos_culprits_total\{code="frost.bad_share",node="node-3"\} 1/);
  });
});
