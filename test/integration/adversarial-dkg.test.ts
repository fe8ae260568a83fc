import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fromHex, toHex } from '../../src/common/bytes.ts';
import { groupOf, type Scheme } from '../../src/common/schemes.ts';
import { ProtocolAbort } from '../../src/common/errors.ts';
import { eciesEncryptProvingEphemeral } from '../../src/crypto/ecies.ts';
import { proveDecryption } from '../../src/crypto/decryption-proof.ts';
import { getGroup } from '../../src/crypto/group.ts';
import { shareContext, shareEphemeralContext } from '../../src/protocols/dkg/params.ts';
import * as dkg from '../../src/protocols/dkg/index.ts';
import type { Round1Payload, Round2Payload } from '../../src/protocols/dkg/types.ts';
import { dkgSessionId } from '../../src/wire/dkg-session.ts';
import { sealEnvelope, type Envelope } from '../../src/wire/envelope.ts';
import { genesisHash, parseGenesis } from '../../src/wire/genesis.ts';
import { apiAt, readJson, startTestCluster, type TestCluster } from '../support/cluster.ts';
import { join } from 'node:path';

/**
 * The test as a relay colluding with node-3 (in-process, software keystore): it drives the nodes'
 * DKG API directly and can sign any message as node-3.
 */
function colludingRelay(c: TestCluster, keyId: string, scheme: Scheme) {
  const genesis = parseGenesis(readJson(join(c.home, 'genesis.json')));
  const cluster = genesisHash(genesis);
  const parties = ['node-1', 'node-2', 'node-3'];
  const start = { keyId, scheme, threshold: 2, parties };
  const sessionId = dkgSessionId(keyId, start);
  const call = (node: string, path: string, body: unknown) => apiAt(c.nodeUrl(node))('POST', path, body);
  const asNode3 = <P>(round: string, payload: P) => sealEnvelope({ cluster, session: sessionId, round, from: 'node-3', to: '*' }, payload, (m) => c.malicious!.keystore.signIdentity(m));
  return { genesis, parties, start, sessionId, call, asNode3 };
}

/**
 * Key generation with a cheating party (node-3, in-process with a software keystore; node-1 and
 * node-2 are real processes with SoftHSM tokens): the honest nodes end the session and name it,
 * or name a false complainer; no key comes out.
 */
describe('DKG: cheaters are named', () => {
  test('a bad DKG share: the victim complains and every node names the dealer', async () => {
    const c = await startTestCluster({
      malicious: {
        dkgRound1: (payload, params) => {
          const p = structuredClone(payload) as Round1Payload;
          const group = getGroup(groupOf(params.scheme));
          // A well-formed, correctly encrypted share that is not on node-3's committed polynomial.
          const wrong = group.encodeScalar(group.randomScalar());
          const enc = eciesEncryptProvingEphemeral(fromHex(params.encryptionKeys['node-1']), wrong, shareContext(params, params.self, 'node-1'), shareEphemeralContext(params, params.self, 'node-1'));
          p.shares['node-1'] = toHex(enc.ciphertext);
          p.shareProofs['node-1'] = toHex(enc.proof);
          return p;
        },
      },
    });
    try {
      const r = await c.api('POST', '/v1/keys', { scheme: 'frost-ed25519', threshold: 2 });
      assert.equal(r.status, 502, JSON.stringify(r.json));
      assert.equal(r.json.code, 'dkg.bad_share');
      assert.equal(r.json.culprit, 'node-3');
      for (const honest of ['node-1', 'node-2']) assert.ok(r.json.context.reports.includes(`${honest}: dkg.bad_share (culprit node-3)`), JSON.stringify(r.json.context));
      assert.deepEqual((await c.api('GET', '/v1/keys')).json.keys, []);
      // The honest nodes aborted the session for good: it cannot be continued.
      const keys = (await apiAt(c.nodeUrl('node-1'))('GET', '/v1/keys')).json.keys;
      assert.ok(keys.every((k: any) => k.state !== 'active'));
    } finally {
      await c.stop();
    }
  });

  test('a false complaint names the complainer', async () => {
    const c = await startTestCluster({
      malicious: (ks) => ({
        dkgRound2: (payload, params, round1) => {
          const p = structuredClone(payload) as Round2Payload;
          const fromNode1 = round1.find((m) => m.from === 'node-1')!.payload as Round1Payload;
          const ct = fromHex(fromNode1.shares[params.self]);
          // node-3 "proves" the honest share it got from node-1 is bad: the proof is genuine, the share is fine.
          const proof = ks.withEncryptionKey((sk) => proveDecryption(sk, ct, shareContext(params, 'node-1', params.self)));
          p.complaints = [{ accused: 'node-1', shared: toHex(proof.shared), proof: toHex(proof.proof) }];
          return p;
        },
      }),
    });
    try {
      const r = await c.api('POST', '/v1/keys', { scheme: 'frost-secp256k1', threshold: 2 });
      assert.equal(r.status, 502, JSON.stringify(r.json));
      assert.equal(r.json.code, 'dkg.false_complaint');
      assert.equal(r.json.culprit, 'node-3');
      for (const honest of ['node-1', 'node-2']) assert.ok(r.json.context.reports.includes(`${honest}: dkg.false_complaint (culprit node-3)`), JSON.stringify(r.json.context));
    } finally {
      await c.stop();
    }
  });

  test('an equivocating broadcast is detected by the echo and the sender named', async () => {
    // Here the test is the relay (a coordinator colluding with node-3): it hands node-1 and node-2
    // two different round-one broadcasts, both validly signed by node-3.
    const c = await startTestCluster({ malicious: {} });
    try {
      const { genesis, parties, start, sessionId, call, asNode3 } = colludingRelay(c, 'equivocation-test', 'bip340');
      const r1 = await Promise.all(parties.map((p) => call(p, '/v1/dkg/round1', { ...start, sessionId })));
      assert.deepEqual(r1.map((r) => r.status), [200, 200, 200]);
      const [e1, e2, e3a] = r1.map((r) => r.json as Envelope);
      // A second, different, validly signed round-one broadcast by node-3 (fresh randomness).
      const params = { sessionId, scheme: start.scheme, threshold: 2, parties, self: 'node-3', encryptionKeys: Object.fromEntries(genesis.nodes.map((n) => [n.id, n.encryptionKey])) };
      const other = dkg.round1(params).broadcast;
      const e3b = asNode3('dkg/1', other);
      assert.notDeepEqual(e3a.payload, e3b.payload);
      const r2 = await Promise.all([
        call('node-1', '/v1/dkg/round2', { sessionId, messages: [e2, e3a] }),
        call('node-2', '/v1/dkg/round2', { sessionId, messages: [e1, e3b] }),
        call('node-3', '/v1/dkg/round2', { sessionId, messages: [e1, e2] }),
      ]);
      assert.deepEqual(r2.map((r) => r.status), [200, 200, 200], JSON.stringify(r2.map((r) => r.json)));
      const [f1, f2, f3] = r2.map((r) => r.json as Envelope);
      const fin = await Promise.all([
        call('node-1', '/v1/dkg/finish', { sessionId, messages: [f2, f3] }),
        call('node-2', '/v1/dkg/finish', { sessionId, messages: [f1, f3] }),
      ]);
      for (const r of fin) {
        assert.equal(r.status, 502, JSON.stringify(r.json));
        assert.equal(r.json.code, 'dkg.equivocation');
        assert.equal(r.json.culprit, 'node-3');
      }
      // The session is over on the honest nodes: retrying does not resurrect it.
      const again = await call('node-1', '/v1/dkg/finish', { sessionId, messages: [f2, f3] });
      assert.equal(again.status, 409);
      assert.equal(again.json.code, 'dkg.aborted');
    } finally {
      await c.stop();
    }
  });

  test('an equivocating round-two broadcast is caught by the attestation round and the sender named', async () => {
    const c = await startTestCluster({ malicious: {} });
    try {
      const keyId = 'equivocation-round-two';
      const { parties, start, sessionId, call, asNode3 } = colludingRelay(c, keyId, 'frost-ed25519');
      const others = (envs: Envelope[], p: string) => envs.filter((e) => e.from !== p);
      const r1 = (await Promise.all(parties.map((p) => call(p, '/v1/dkg/round1', { ...start, sessionId })))).map((r) => r.json as Envelope);
      const r2 = (await Promise.all(parties.map((p) => call(p, '/v1/dkg/round2', { sessionId, messages: others(r1, p) })))).map((r) => r.json as Envelope);
      // node-3 signs a second round-two broadcast that differs only in an echoed signature (which
      // receivers check only when digests differ), and the colluding relay gives it to node-2.
      const p3 = structuredClone(r2[2].payload) as unknown as Round2Payload;
      p3.echoes['node-1'] = { ...p3.echoes['node-1'], signature: '00'.repeat(64) };
      const f3b = asNode3('dkg/2', p3);
      const r3 = await Promise.all([
        call('node-1', '/v1/dkg/finish', { sessionId, messages: [r2[1], r2[2]] }),
        call('node-2', '/v1/dkg/finish', { sessionId, messages: [r2[0], f3b] }),
        call('node-3', '/v1/dkg/finish', { sessionId, messages: [r2[0], r2[1]] }),
      ]);
      assert.deepEqual(r3.map((r) => r.status), [200, 200, 200], JSON.stringify(r3.map((r) => r.json)));
      const e3 = r3.map((r) => r.json as Envelope);
      // Review finding: an echo differing from ours only in hex case must not frame the honest
      // sender as an equivocator (its signature is over the bytes); the echoer is named instead.
      const caseTrick = structuredClone(e3[2].payload) as any;
      caseTrick.echoes['node-2'].digest = caseTrick.echoes['node-2'].digest.toUpperCase();
      const e3case = asNode3('dkg/3', caseTrick);
      const framed = await call('node-1', '/v1/dkg/confirm', { sessionId, messages: [e3[1], e3case] });
      assert.equal(framed.status, 502, JSON.stringify(framed.json));
      assert.equal(framed.json.code, 'dkg.bad_message');
      assert.equal(framed.json.culprit, 'node-3');
      const confirm = await Promise.all([
        call('node-1', '/v1/dkg/confirm', { sessionId, messages: [e3[1], e3[2]] }),
        call('node-2', '/v1/dkg/confirm', { sessionId, messages: [e3[0], e3[2]] }),
      ]);
      // node-1's session was already ended by the framing attempt; node-2 names the equivocator.
      assert.equal(confirm[0].status, 409);
      assert.equal(confirm[0].json.code, 'dkg.aborted');
      assert.equal(confirm[1].status, 502, JSON.stringify(confirm[1].json));
      assert.equal(confirm[1].json.code, 'dkg.equivocation');
      assert.equal(confirm[1].json.culprit, 'node-3');
      // Neither honest node activated the key.
      for (const n of ['node-1', 'node-2']) {
        const k = (await apiAt(c.nodeUrl(n))('GET', '/v1/keys')).json.keys.find((x: any) => x.id === keyId);
        assert.notEqual(k?.state, 'active');
      }
    } finally {
      await c.stop();
    }
  });

  test('a node that falsely accuses an honest one on its own word gets no one named', async () => {
    // Review finding: the coordinator used to believe any culprit a node reported.
    const c = await startTestCluster({
      malicious: { dkgRound2: () => { throw new ProtocolAbort('dkg.bad_share', 'node-2', 'node-2 sent me a bad share (a lie)'); } },
    });
    try {
      const r = await c.api('POST', '/v1/keys', { scheme: 'frost-ed25519', threshold: 2 });
      assert.equal(r.status, 502, JSON.stringify(r.json));
      assert.equal(r.json.code, 'dkg.disputed');
      assert.equal(r.json.culprit, undefined, 'node-2 is not named on node-3\'s word alone');
      assert.ok(r.json.context.reports.includes('node-3: dkg.bad_share (culprit node-2)'), JSON.stringify(r.json.context));
    } finally {
      await c.stop();
    }
  });
});
