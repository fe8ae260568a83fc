import { test } from 'node:test';
import assert from 'node:assert/strict';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { jsonLogger } from '../../src/common/logger.ts';
import { openDatabase } from '../../src/common/sqlite.ts';
import { AirgapLink } from '../../src/coordinator/airgap-link.ts';
import { openBundle, sealBundle } from '../../src/wire/bundle.ts';
import { BundleStreams } from '../../src/wire/bundle-streams.ts';
import { packHex, unpackHex } from '../../src/wire/airgap-items.ts';

/**
 * The coordinator's end of the gap on its own: calls queue, the bundle is complete only when every
 * live flow waits on the offline node, a flow that dies takes its unsent calls with it, and
 * answers settle exactly the calls they name (refusals become the node's errors).
 */
const CLUSTER = 'ab'.repeat(32);
const coordSk = p256.utils.randomSecretKey();
const nodeSk = p256.utils.randomSecretKey();
const signer = (sk: Uint8Array) => (m: Uint8Array) => p256.sign(sha256(m), sk, { prehash: false, lowS: true, format: 'compact' });

function link() {
  const db = openDatabase(':memory:');
  const streams = new BundleStreams(db);
  return new AirgapLink({ party: 'node-3', cluster: CLUSTER, streams, tx: (fn) => fn(), sign: signer(coordSk), attest: async () => [], log: jsonLogger('t', () => {}, true) });
}

function answer(bundleBytes: Uint8Array, seq: number, reply: (call: { id: string; path: string; body?: unknown }) => { status: number; body: unknown }): Uint8Array {
  const b = openBundle(bundleBytes, { cluster: CLUSTER, self: 'node-3', identityKeys: { coordinator: p256.getPublicKey(coordSk, true) }, lastSeq: () => seq - 1 });
  const items = b.items.map((x) => unpackHex(x) as { id: string; path: string; body?: unknown }).map((c) => packHex({ id: c.id, ...reply(c) }));
  return sealBundle({ cluster: CLUSTER, from: 'node-3', to: 'coordinator', seq, kind: 'answer', sessions: [], createdAt: new Date().toISOString(), items }, signer(nodeSk));
}

function open(l: AirgapLink, bytes: Uint8Array, last: number) {
  return l.accept(openBundle(bytes, { cluster: CLUSTER, self: 'coordinator', identityKeys: { 'node-3': p256.getPublicKey(nodeSk, true) }, lastSeq: () => last }));
}

test('the bundle waits for every live flow, carries all their calls, and answers resume them', async () => {
  const l = link();
  const client = l.client();
  let release!: () => void;
  const slow = new Promise<void>((r) => { release = r; });
  const a = l.track('sign', () => client.post<{ n: number }>('/v1/sign/ecdsa', { presignId: 'p1', x: 'beef' }));
  const b = l.track('stage', async () => { await slow; return client.post<{ n: number }>('/v1/presign/round1', { sessionId: 's1' }); });
  assert.equal(await l.whenReady(50), true, 'something is queued');
  assert.equal(l.status().flowsWaiting, 1, 'one flow is still busy elsewhere');
  const ready = l.whenReady(5000);
  release();
  await ready;
  assert.equal(l.status().queued, 2);
  const out = (await l.exportBundle())!;
  assert.equal(out.seq, 1);
  assert.equal(out.kind, 'stage');
  assert.equal(out.calls, 2);
  const back = answer(out.bytes, 1, (c) => (c.path === '/v1/sign/ecdsa' ? { status: 200, body: { n: 1, echo: (c.body as { x: string }).x } } : { status: 409, body: { code: 'presign.exists', detail: 'already there' } }));
  assert.deepEqual(open(l, back, 0), { seq: 1, answered: 2, unmatched: 0 });
  assert.deepEqual(await a, { n: 1, echo: 'beef' });
  await assert.rejects(b, (e: Error & { code?: string }) => e.code === 'presign.exists' && /node node-3 refused: already there/.test(e.message));
  assert.equal(await l.whenReady(10), false, 'no flow left, nothing queued');
  assert.equal(await l.exportBundle(), undefined);
});

test('a flow that fails elsewhere takes its unsent calls with it', async () => {
  const l = link();
  const client = l.client();
  const f = l.track('sign', async () => {
    const offline = client.post('/v1/sign/ecdsa', { presignId: 'p2' });
    offline.catch(() => {});
    throw new Error('the online node refused');
  });
  await assert.rejects(f, /the online node refused/);
  assert.equal(l.status().queued, 0);
  assert.equal(await l.exportBundle(), undefined);
});
