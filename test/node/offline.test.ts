import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../../src/common/bytes.ts';
import { jsonLogger } from '../../src/common/logger.ts';
import { SoftwareKeystore } from '../../src/hsm/software-keystore.ts';
import { NodeStore } from '../../src/node/store.ts';
import { OfflineNode } from '../../src/node/offline.ts';
import { demoIdentities, demoPolicy } from '../../src/cli/demo.ts';
import { signPolicyAs } from '../../src/policy/client-signing.ts';
import { packHex, unpackHex } from '../../src/wire/airgap-items.ts';
import { bundleContentDigest, openBundle, sealBundle, type BundleContent } from '../../src/wire/bundle.ts';
import { genesisHash, parseGenesis } from '../../src/wire/genesis.ts';
import { attestTime } from '../../src/wire/time-attestation.ts';

/**
 * The offline node's clock is the online nodes' attested time, all of them by default: the
 * coordinator picks what goes into a bundle, so with fewer it could pick the one clock that suits
 * it. A bundle with too few, skewed or foreign attestations is refused whole (nothing served, its
 * sequence number not taken); one without any is served, and whatever needs time is refused.
 */
describe('OfflineNode: time comes from every online node, or time-based calls are refused', () => {
  const ks = { 'node-1': new SoftwareKeystore(), 'node-2': new SoftwareKeystore(), 'node-3': new SoftwareKeystore(), coordinator: new SoftwareKeystore() };
  const people = demoIdentities();
  const genesis = parseGenesis({
    version: 1, clusterName: 'offline-test', createdAt: new Date().toISOString(),
    nodes: (['node-1', 'node-2', 'node-3'] as const).map((id) => ({ id, identityKey: toHex(ks[id].identityPublicKey()), encryptionKey: toHex(ks[id].encryptionPublicKey()) })),
    thresholds: { min: 2, max: 3 }, admins: people.admins, coordinator: { identityKey: toHex(ks.coordinator.identityPublicKey()) },
  });
  const cluster = genesisHash(genesis);
  const policy = signPolicyAs(cluster, demoPolicy(people.all), Object.values(people.secrets).filter((s) => s.roles.includes('admin')));
  let dir: string;
  let store: NodeStore;
  let node: OfflineNode;
  let seq = 0;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'custos-offline-'));
    store = new NodeStore(join(dir, 'node.db'));
    node = new OfflineNode({ id: 'node-3', genesis, keystore: ks['node-3'], store, logger: jsonLogger('t', () => {}, true) });
  });
  after(async () => { await node.close(); store.close(); rmSync(dir, { recursive: true, force: true }); });

  const content = (s: number): BundleContent => ({ cluster, from: 'coordinator', to: 'node-3', seq: s, kind: 'policy', sessions: [], createdAt: new Date().toISOString(), items: [packHex({ id: `call-${s}`, method: 'POST', path: '/v1/policy', body: policy }) as never] });
  const bundle = (s: number, attest: { node: 'node-1' | 'node-2' | 'node-3'; at?: Date }[]) => {
    const c = content(s);
    const d = bundleContentDigest(c);
    return sealBundle({ ...c, timeAttestations: attest.map((a) => attestTime({ cluster, node: a.node, bundle: d }, (m) => ks[a.node].signIdentity(m), a.at)) }, (m) => ks.coordinator.signIdentity(m));
  };
  const answerOf = (bytes: Uint8Array) => {
    const b = openBundle(bytes, { cluster, self: 'coordinator', identityKeys: { 'node-3': ks['node-3'].identityPublicKey() }, lastSeq: () => node.answer()!.seq - 1 });
    return unpackHex(b.items[0]) as { id: string; status: number; body: { code?: string; version?: number; activated?: boolean } };
  };
  const refused = async (bytes: Uint8Array, code: string, re?: RegExp) => {
    await assert.rejects(node.importBundle(bytes), (e: Error & { code?: string }) => e.code === code && (!re || re.test(e.message)));
    assert.equal(node.status().lastBundleIn, seq, 'a refused bundle takes no sequence number');
  };

  it('without attestations, a call that needs time is refused (time.unattested) and nothing is activated', async () => {
    const r = await node.importBundle(bundle(++seq, []));
    const a = answerOf(r.answer);
    assert.equal(a.body.code, 'time.unattested');
    assert.equal(node.status().policyVersion, null);
  });

  it('one online node is not enough by default, the node itself and skewed clocks are refused', async () => {
    await refused(bundle(seq + 1, [{ node: 'node-1' }]), 'time.unattested', /1 valid time attestation\(s\), 2 required/);
    await refused(bundle(seq + 1, [{ node: 'node-1' }, { node: 'node-2', at: new Date(Date.now() + 3600_000) }]), 'time.skew');
    await refused(bundle(seq + 1, [{ node: 'node-1' }, { node: 'node-2' }, { node: 'node-3' }]), 'time.self_attested');
  });

  it('with every online node attesting, the policy is activated', async () => {
    const r = await node.importBundle(bundle(++seq, [{ node: 'node-1' }, { node: 'node-2' }]));
    const a = answerOf(r.answer);
    assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.equal(a.body.activated, true);
    assert.equal(node.status().policyVersion, 1);
    assert.deepEqual(r.time?.attestedBy.sort(), ['node-1', 'node-2']);
  });
});
