import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { fromHex, toHex, utf8 } from '../../src/common/bytes.ts';
import { getGroup } from '../../src/crypto/group.ts';
import { presignSid } from '../../src/protocols/dkls23/params.ts';
import { combine, signingNonce } from '../../src/protocols/dkls23/sign.ts';
import { dkgSessionId } from '../../src/wire/dkg-session.ts';
import { apiAt, restoreDir, snapshotDir, startTestCluster, type TestCluster } from '../support/cluster.ts';
import { presignDirect } from '../support/presign-direct.ts';

/**
 * Single use of DKLs23 presignatures, attacked by a hostile coordinator (the test drives the
 * nodes' API itself): after a node's whole data directory (SQLite and SoftHSM token) is restored
 * from an older copy, and after a crash between the burn and the answer.
 */
const secp = getGroup('secp256k1');
const Fn = secp.Fn;

describe('presignature single use survives a restored node', () => {
  let c: TestCluster;
  let key: any;
  before(async () => {
    c = await startTestCluster();
    const k = await c.api('POST', '/v1/keys', { scheme: 'ecdsa-secp256k1', threshold: 2 });
    assert.equal(k.status, 201, JSON.stringify(k.json));
    key = k.json;
  });
  after(async () => { await c?.stop(); });
  const node = (id: string) => apiAt(c.nodeUrl(id));
  /** An initiator-signed request to sign the digest of `text` (the label only names it in the test). */
  const request = (_label: string, text: string) => c.authorization(key.id, { payload: { type: 'digest', hex: toHex(sha256(utf8(text))) } });

  test('a restored node releases only a masked share; its honest co-signer refuses; nothing about φ or v leaks', async () => {
    const quorum = ['node-1', 'node-2'];
    const [P] = await presignDirect(node, key.id, quorum, 1);
    await c.restartNode('node-1');
    const backup = snapshotDir(c.nodeDir('node-1'));
    // The restored copy's presignature secrets, read with the node's own token (the node is stopped).
    await c.killNode('node-1');
    const secrets = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'test/support/node-secrets.ts', c.nodeDir('node-1'), '-'], { encoding: 'utf8' });
    assert.equal(secrets.status, 0, secrets.stderr);
    const mine = (JSON.parse(secrets.stdout).presignatures as { id: string; phi: string; v: string }[]).find((x) => x.id === P.id)!;
    assert.ok(mine, 'the backup holds presignature P unused');
    await c.restartNode('node-1');

    const sid = toHex(presignSid(dkgSessionId(key.id, { scheme: key.scheme, threshold: key.threshold, parties: key.parties }), P.id, quorum));
    const pk = fromHex(key.publicKey);
    const signP = (req: ReturnType<typeof request>) => Promise.all(quorum.map((p) => node(p)('POST', '/v1/sign/ecdsa', { keyId: key.id, presignId: P.id, quorum, authorization: req })));

    const req1 = request('r1', 'pay 1 to alice');
    const a1 = await signP(req1);
    assert.deepEqual(a1.map((r) => r.status), [200, 200], JSON.stringify(a1.map((r) => r.json)));
    const d1 = fromHex(req1.request.payload.hex);
    const sig = combine(sid, P.R, pk, d1, a1.map((r, i) => ({ from: quorum[i], partial: r.json.payload })));
    assert.ok(secp256k1.verify(sig.signature, d1, pk, { prehash: false }));

    // node-1 is restored from the backup: it believes P is fresh.
    await c.killNode('node-1');
    restoreDir(backup, c.nodeDir('node-1'));
    await c.restartNode('node-1');
    const req2 = request('r2', 'pay 1000 to mallory');
    const a2 = await signP(req2);
    assert.equal(a2[0].status, 200, 'the restored node does not know P was used');
    assert.equal(a2[1].status, 409);
    assert.equal(a2[1].json.code, 'presign.reused');

    // What a hostile coordinator now holds from node-1: two answers from one presignature. Unmasked,
    // w = m·φ + x(m)·v for two messages gives φ (and v) by solving two linear equations, and with
    // them the key. Masked by the pair key node-2 never uses twice, the solution is garbage.
    const xOf = (d: Uint8Array) => Fn.create(bytesToNumberBE(signingNonce(sid, P.R, pk, d).toBytes().subarray(1)));
    const mOf = (d: Uint8Array) => Fn.create(bytesToNumberBE(d));
    const d2 = fromHex(req2.request.payload.hex);
    const solve = (w1: bigint, w2: bigint) => Fn.div(Fn.sub(Fn.mul(w1, xOf(d2)), Fn.mul(w2, xOf(d1))), Fn.sub(Fn.mul(mOf(d1), xOf(d2)), Fn.mul(mOf(d2), xOf(d1))));
    const phi = secp.decodeScalar(fromHex(mine.phi));
    const v = secp.decodeScalar(fromHex(mine.v));
    const unmasked = (d: Uint8Array) => Fn.add(Fn.mul(mOf(d), phi), Fn.mul(xOf(d), v));
    assert.equal(solve(unmasked(d1), unmasked(d2)), phi, 'control: the attack works on unmasked shares');
    const w = (r: { json: any }) => secp.decodeScalar(fromHex(r.json.payload.w));
    assert.notEqual(solve(w(a1[0]), w(a2[0])), phi, 'the restored node\'s released shares do not reveal φ');
  });
});

describe('presignature single use survives a crash between burn and answer', () => {
  let c: TestCluster;
  let key: any;
  let crash = false;
  before(async () => {
    c = await startTestCluster({ malicious: { ecdsa: { afterBurn: () => { if (crash) throw new Error('simulated crash after the burn committed'); } } } });
    const k = await c.api('POST', '/v1/keys', { scheme: 'ecdsa-secp256k1', threshold: 2 });
    assert.equal(k.status, 201, JSON.stringify(k.json));
    key = k.json;
  });
  after(async () => { await c?.stop(); });
  const node = (id: string) => apiAt(c.nodeUrl(id));
  const request = (_label: string, text: string) => c.authorization(key.id, { payload: { type: 'digest', hex: toHex(sha256(utf8(text))) } });

  test('a presignature id is claimed for good: a second presigning session with it is refused', async () => {
    const quorum = ['node-1', 'node-3'];
    const body = (sessionId: string) => ({ sessionId, keyId: key.id, quorum, presignIds: ['reused-id'] });
    const first = await Promise.all(quorum.map((p) => node(p)('POST', '/v1/presign/round1', body('presign.first'))));
    assert.deepEqual(first.map((r) => r.status), [200, 200]);
    const again = await Promise.all(quorum.map((p) => node(p)('POST', '/v1/presign/round1', body('presign.second'))));
    for (const r of again) {
      assert.equal(r.status, 409, JSON.stringify(r.json));
      assert.equal(r.json.code, 'presign.id_reused');
    }
  });

  test('the burned presignature answers the same request again and refuses any other', async () => {
    const quorum = ['node-2', 'node-3'];
    const [P] = await presignDirect(node, key.id, quorum, 1);
    const req1 = request('c1', 'first');
    crash = true;
    const lost = await node('node-3')('POST', '/v1/sign/ecdsa', { keyId: key.id, presignId: P.id, quorum, authorization: req1 });
    crash = false;
    assert.equal(lost.status, 500, 'the answer was lost in the crash');
    assert.ok(!JSON.stringify(lost.json).includes('"w"'), 'nothing computed from the presignature left the node');
    const other = await node('node-3')('POST', '/v1/sign/ecdsa', { keyId: key.id, presignId: P.id, quorum, authorization: request('c2', 'second') });
    assert.equal(other.status, 409);
    assert.equal(other.json.code, 'presign.reused');
    const same = await node('node-3')('POST', '/v1/sign/ecdsa', { keyId: key.id, presignId: P.id, quorum, authorization: req1 });
    assert.equal(same.status, 200, JSON.stringify(same.json));
    const again = await node('node-3')('POST', '/v1/sign/ecdsa', { keyId: key.id, presignId: P.id, quorum, authorization: req1 });
    assert.deepEqual(again.json, same.json, 'the stored answer, not a new computation');
  });
});
