import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Transaction } from 'micro-eth-signer';
import { toHex } from '../common/bytes.ts';
import { CustosError } from '../common/errors.ts';
import { jsonLogger, type Logger } from '../common/logger.ts';
import { decodePayload, type SignPayload } from '../chains/payload.ts';
import { crossingCost, type Transport } from '../airgap/cost-model.ts';
import { SoftwareKeystore } from '../hsm/software-keystore.ts';
import { NodeService } from '../node/service.ts';
import { buildNodeServer } from '../node/server.ts';
import { NodeStore } from '../node/store.ts';
import { OfflineNode } from '../node/offline.ts';
import { Airgap } from '../coordinator/airgap.ts';
import { Cluster } from '../coordinator/cluster.ts';
import { runDkg } from '../coordinator/dkg-runner.ts';
import { EcdsaSigning } from '../coordinator/ecdsa-signing.ts';
import { nodeRefusal, type PartyClient } from '../coordinator/node-client.ts';
import { CoordinatorStore, type CoordKeyRow } from '../coordinator/store.ts';
import { signPolicyAs, signRequestAs } from '../policy/client-signing.ts';
import { genesisHash, parseGenesis, type Genesis } from '../wire/genesis.ts';
import { demoIdentities, demoPolicy } from './demo.ts';

/**
 * The crossing simulator: the real protocol (DKLs23 key generation, presigning and signing, the
 * policy gate on every node, bundles sealed, carried and opened byte for byte) with two online
 * nodes and the offline node in this process, and software keys instead of HSM tokens (the HSM
 * changes nothing that crosses). It measures what crosses the gap for a cold 2-of-3 key:
 * key generation, staging N presignatures, and a sign batch of N Ethereum transactions; and the
 * baseline, one full protocol run per transaction (presigning and signing, every round crossing),
 * measured on `baselineSample` transactions and scaled to N.
 */
export type Phase = { roundTrips: number; crossings: number[] };
export type SimulationResult = { batch: number; dkg: Phase; staging: Phase; sign: Phase; baseline: { sample: number; perTx: Phase }; verified: number };

const TO = '0x00000000000000000000000000000000000000aa';

function injectClient(id: string, app: FastifyInstance): PartyClient {
  const call = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    const res = await app.inject({ method, url: path, ...(body === undefined ? {} : { payload: body as object }) });
    const json = res.json();
    if (res.statusCode >= 400) throw nodeRefusal(id, res.statusCode, json);
    return json as T;
  };
  return { id, get: (path) => call('GET', path), post: (path, body) => call('POST', path, body) };
}

export async function simulate(o: { batch: number; baselineSample?: number; log?: (s: string) => void }): Promise<SimulationResult> {
  const say = o.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'custos-simulate-'));
  const quiet: Logger = jsonLogger('simulate', () => {}, true);
  const ks = { 'node-1': new SoftwareKeystore(), 'node-2': new SoftwareKeystore(), 'node-3': new SoftwareKeystore(), coordinator: new SoftwareKeystore() };
  const people = demoIdentities();
  const genesis: Genesis = parseGenesis({
    version: 1, clusterName: 'custos-simulate', createdAt: new Date().toISOString(),
    nodes: (['node-1', 'node-2', 'node-3'] as const).map((id) => ({ id, identityKey: toHex(ks[id].identityPublicKey()), encryptionKey: toHex(ks[id].encryptionPublicKey()) })),
    thresholds: { min: 2, max: 3 }, admins: people.admins, coordinator: { identityKey: toHex(ks.coordinator.identityPublicKey()) },
  });
  const stores: NodeStore[] = [];
  const store = (name: string) => { const s = new NodeStore(join(dir, `${name}.db`)); stores.push(s); return s; };
  const online = (['node-1', 'node-2'] as const).map((id) => {
    const svc = new NodeService({ id, genesis, keystore: ks[id], store: store(id), logger: quiet });
    return { id, svc, app: buildNodeServer(svc, quiet) };
  });
  const offline = new OfflineNode({ id: 'node-3', genesis, keystore: ks['node-3'], store: store('node-3'), logger: quiet });
  const coordStore = new CoordinatorStore(join(dir, 'coordinator.db'));
  try {
    const cluster = new Cluster(genesis, [...online.map((n) => ({ id: n.id, url: 'http://127.0.0.1:9' })), { id: 'node-3', offline: true }]);
    for (const n of online) cluster.clients.set(n.id, injectClient(n.id, n.app));
    const airgap = new Airgap({ cluster, genesis, store: coordStore, sign: (m) => ks.coordinator.signIdentity(m), log: quiet });
    const ecdsa = new EcdsaSigning(coordStore, cluster, quiet, () => {});
    // Set-up, not measured: the demo policy (transfers up to 1 ETH allowed) on every node.
    const signedPolicy = signPolicyAs(genesisHash(genesis), demoPolicy(people.all), Object.values(people.secrets).filter((s) => s.roles.includes('admin')));
    for (const n of online) n.svc.policy.activate(signedPolicy);
    const link = airgap.link('node-3');
    /** Carries bundles both ways until `work` settles; every crossing's size is recorded. */
    const carry = async <T>(work: Promise<T>): Promise<{ value: T; phase: Phase }> => {
      const phase: Phase = { roundTrips: 0, crossings: [] };
      let settled = false;
      const watched = work.finally(() => { settled = true; });
      watched.catch(() => {});
      while (!settled) {
        if (!(await link.whenReady(3_600_000))) { await new Promise((r) => setTimeout(r, 5)); continue; }
        const out = await link.exportBundle();
        if (!out) continue;
        const answer = await offline.importBundle(out.bytes);
        airgap.import(answer.answer);
        phase.roundTrips++;
        phase.crossings.push(out.bytes.length, answer.answer.length);
      }
      return { value: await watched, phase };
    };

    // The offline node gets the policy the way it always does: in a bundle (not counted).
    await carry(airgap.track(['node-3'], 'policy', () => cluster.client('node-3').post('/v1/policy', signedPolicy)));

    say('key generation (cold 2-of-3, node-3 offline)…');
    const dkgReq = { scheme: 'ecdsa-secp256k1' as const, threshold: 2, parties: ['node-1', 'node-2', 'node-3'], requiredParties: ['node-3'] };
    const dkg = await carry(airgap.track(['node-3'], 'dkg', () => runDkg(cluster, dkgReq)));
    const g = dkg.value;
    const key: CoordKeyRow = coordStore.insertKey({ id: g.keyId, scheme: 'ecdsa-secp256k1', threshold: 2, parties: JSON.stringify(dkgReq.parties), public_key: g.publicKey, internal_key: null, group_public: JSON.stringify(g.groupPublic), attestations: JSON.stringify(g.attestations) });
    const quorum = ['node-1', 'node-3'];
    const stage = (n: number) => {
      const chunks = Array.from({ length: Math.ceil(n / 64) }, (_, i) => Math.min(64, n - i * 64));
      return Promise.all(chunks.map((c) => airgap.track(['node-3'], 'stage', () => ecdsa.presign(key, quorum, c))));
    };
    let nonce = 0;
    const signOne = (requestId: string) => {
      const payload: SignPayload = { type: 'eth-tx', hex: Transaction.prepare({ to: TO, value: 10n ** 16n, maxFeePerGas: 2n * 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n, nonce: BigInt(nonce++), chainId: 1n }).toHex({ includeSignature: false }).slice(2) };
      const signed = signRequestAs(people.secrets['demo-initiator'], { keyId: key.id, payload, intent: { to: TO, amount: String(10n ** 16n), asset: 'eth' } });
      return airgap.track(['node-3'], 'sign', () => ecdsa.sign(key, { digest: decodePayload(payload).signBytes, requestId, authorization: { ...signed, approvals: [] } }));
    };

    say(`staging ${o.batch} presignatures…`);
    const staging = await carry(stage(o.batch));
    say(`signing a batch of ${o.batch} Ethereum transactions…`);
    const signed = await carry(Promise.all(Array.from({ length: o.batch }, (_, i) => signOne(`sim-${i}`))));
    // combine() verified every signature against the key with @noble/curves before returning it.
    const verified = signed.value.filter((s) => s.signature.length === 128).length;

    // The baseline: each transaction on its own, presigning and signing, every round crossing.
    const sample = Math.max(1, Math.min(o.baselineSample ?? 3, o.batch));
    say(`baseline: ${sample} transaction(s), one full protocol run each…`);
    const per: Phase[] = [];
    for (let i = 0; i < sample; i++) {
      const a = await carry(stage(1));
      const b = await carry(signOne(`base-${i}`));
      per.push({ roundTrips: a.phase.roundTrips + b.phase.roundTrips, crossings: [...a.phase.crossings, ...b.phase.crossings] });
    }
    const perTx: Phase = {
      roundTrips: per[0].roundTrips,
      crossings: per[0].crossings.map((_, k) => Math.round(per.reduce((s, p) => s + (p.crossings[k] ?? 0), 0) / per.length)),
    };
    if (per.some((p) => p.roundTrips !== perTx.roundTrips)) throw new CustosError('simulate.inconsistent', 'the baseline runs took different numbers of round trips', { status: 500 });
    return { batch: o.batch, dkg: dkg.phase, staging: staging.phase, sign: signed.phase, baseline: { sample, perTx }, verified };
  } finally {
    await offline.close();
    for (const n of online) await n.app.close();
    for (const s of stores) s.close();
    coordStore.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A phase's cost over `transport` under the published model (cost-model.ts). */
export function costOf(p: Phase, transport: Transport, times = 1): { roundTrips: number; crossings: number; bytes: number; frames: number; minutes: number } {
  const each = p.crossings.map((b) => crossingCost(b, transport));
  return {
    roundTrips: p.roundTrips * times,
    crossings: p.crossings.length * times,
    bytes: p.crossings.reduce((s, b) => s + b, 0) * times,
    frames: each.reduce((s, c) => s + c.frames, 0) * times,
    minutes: Math.round((each.reduce((s, c) => s + c.seconds, 0) * times / 60) * 100) / 100,
  };
}
