import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1, secp256k1_FROST } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex, utf8 } from '../../src/common/bytes.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';

/** The edges of the supported range on real processes: 2-of-2 on a subset, 7-of-10 on ten nodes, for FROST and ECDSA. */
describe('thresholds from 2-of-2 to 7-of-10', () => {
  let c: TestCluster;
  before(async () => { c = await startTestCluster({ nodes: 10 }); });
  after(async () => { await c?.stop(); });

  test('7-of-10 frost-secp256k1 and bip340 keys sign; the signers are a quorum of 7', async () => {
    for (const [scheme, verify] of [['frost-secp256k1', secp256k1_FROST.verify], ['bip340', schnorr.verify]] as const) {
      const k = await c.api('POST', '/v1/keys', { scheme, threshold: 7 });
      assert.equal(k.status, 201, JSON.stringify(k.json));
      assert.equal(k.json.parties.length, 10);
      assert.equal(k.json.attestations.length, 10);
      const msg = utf8(`seven of ten ${scheme}`);
      const s = await c.sign(k.json.id, { payload: { type: 'message', hex: toHex(msg) } });
      assert.equal(s.status, 200, JSON.stringify(s.json));
      assert.equal(s.json.signers.length, 7);
      assert.ok(verify(fromHex(s.json.signature), msg, fromHex(k.json.publicKey)));
    }
  });

  test('ecdsa-secp256k1 at both edges: 7-of-10 (too many quorums to pool: the uncached path) and 2-of-2', async () => {
    for (const [threshold, parties] of [[7, undefined], [2, ['node-2', 'node-7']]] as const) {
      const k = await c.api('POST', '/v1/keys', { scheme: 'ecdsa-secp256k1', threshold, ...(parties ? { parties } : {}) });
      assert.equal(k.status, 201, JSON.stringify(k.json));
      assert.equal(k.json.attestations.length, parties ? 2 : 10);
      assert.ok(k.json.attestations.every((a: { chainCode: string }) => a.chainCode === k.json.chainCode));
      const digest = sha256(utf8(`ecdsa ${threshold}`));
      const s = await c.sign(k.json.id, { payload: { type: 'digest', hex: toHex(digest) }, derivationPath: 'm/7/10' });
      assert.equal(s.status, 200, JSON.stringify(s.json));
      assert.equal(s.json.signers.length, threshold);
      const x = await c.api('GET', `/v1/keys/${k.json.id}/xpub?path=m/7/10`);
      assert.equal(s.json.publicKey, x.json.derivedPublicKey);
      assert.ok(secp256k1.verify(fromHex(s.json.signature), digest, fromHex(s.json.publicKey), { prehash: false, lowS: true }));
    }
  });

  test('2-of-2 on two chosen parties; it cannot sign with one of them down', async () => {
    const k = await c.api('POST', '/v1/keys', { scheme: 'frost-ed25519', threshold: 2, parties: ['node-9', 'node-4'] });
    assert.equal(k.status, 201, JSON.stringify(k.json));
    assert.deepEqual(k.json.parties, ['node-4', 'node-9'], 'parties in genesis order');
    const msg = utf8('two of two');
    const s = await c.sign(k.json.id, { payload: { type: 'message', hex: toHex(msg) } });
    assert.equal(s.status, 200, JSON.stringify(s.json));
    assert.deepEqual(s.json.signers, ['node-4', 'node-9']);
    assert.ok(ed25519.verify(fromHex(s.json.signature), msg, fromHex(k.json.publicKey)));
    // With one of its two parties down, a 2-of-2 key cannot sign, and says so.
    await c.killNode('node-9');
    const down = await c.sign(k.json.id, { payload: { type: 'message', hex: toHex(msg) } });
    assert.equal(down.status, 503, JSON.stringify(down.json));
    assert.equal(down.json.code, 'quorum.unavailable');
  });
});
