import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Transaction, computeAddress } from 'ethers';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromHex, toHex, utf8 } from '../../src/common/bytes.ts';
import { MAIN, spawnServer, stopChild, layout } from '../../src/cli/local-cluster.ts';
import { writeBundleFile } from '../../src/airgap/file-transport.ts';
import { readJson, startTestCluster, type TestCluster } from '../support/cluster.ts';
import { approvalBy, signPolicyAs } from '../../src/policy/client-signing.ts';
import { demoPolicy, publicOf } from '../../src/cli/demo.ts';
import { parsePolicy } from '../../src/policy/document.ts';
import { genesisHash } from '../../src/wire/genesis.ts';

/**
 * The air-gapped signer end to end: a 2-of-3 cold key whose third party, node-3, is an offline
 * node run only as `custos offline` processes (no listener, no connection), reached by bundles
 * that the test carries by hand with the real CLI on both sides: key generation, staging, and a
 * batch of 100 Ethereum transactions in one round trip through files, then through animated QR
 * with 30 % of the frames lost each way. Bad bundles are refused and the cold flag holds against
 * the coordinator.
 */
const TO = '0x00000000000000000000000000000000000000aa';
const unsignedTx = (wei: bigint, nonce: number) => Transaction.from({ type: 2, chainId: 1, nonce, to: TO, value: wei, gasLimit: 21000, maxFeePerGas: 2n * 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n }).unsignedSerialized.slice(2);
const WEI = 10n ** 16n;


/** A copy of the QR frames in `src` with a fraction lost and a few shown twice, as a camera captures them. */
function capture(src: string, dst: string, lose: number, seed: number): { kept: number; total: number } {
  let x = seed;
  const rand = () => { x = (x * 1103515245 + 12345) % 2 ** 31; return x / 2 ** 31; };
  const frames = readdirSync(src).filter((f) => f.endsWith('.png')).sort();
  mkdirSync(dst, { recursive: true });
  let kept = 0;
  for (const f of frames) {
    if (rand() < lose) continue;
    kept++;
    copyFileSync(join(src, f), join(dst, f));
    if (rand() < 0.05) copyFileSync(join(src, f), join(dst, `again-${f}`));
  }
  return { kept, total: frames.length };
}

type Run = { code: number | null; out: string; err: string; json: any };

describe('air-gapped signer: 2-of-3 cold key with node-3 offline', { timeout: 20 * 60_000 }, () => {
  let c: TestCluster;
  let key: any;
  let work: string;
  let n = 0;
  const dir = (tag: string) => { const d = join(work, `${++n}-${tag}`); mkdirSync(d, { recursive: true }); return d; };
  const offlineHome = () => c.nodeDir('node-3');

  function cli(args: string[]): Promise<Run> {
    return new Promise((res) => {
      const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, ...args], { env: { ...process.env, CUSTOS_URL: c.url, CUSTOS_TOKEN: c.creds.token }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = ''; let err = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { err += d; });
      child.on('exit', (code) => { let json; try { json = JSON.parse(out); } catch { json = undefined; } res({ code, out, err, json }); });
    });
  }
  async function ok(args: string[]): Promise<any> {
    const r = await cli(args);
    assert.equal(r.code, 0, `custos ${args.join(' ')} failed: ${r.err.split('\n').slice(-4).join(' | ')}`);
    return r.json;
  }

  /** One round trip through files: export, offline import (a separate process), import of the answer. */
  async function roundTrip(): Promise<{ out: any; answer: any; back: any }> {
    const out = await ok(['airgap', 'export', '--out', dir('out'), '--wait', '120']);
    const answer = await ok(['offline', 'import', '--home', offlineHome(), out.path, '--out', dir('back')]);
    const back = await ok(['airgap', 'import', answer.answer.path]);
    return { out, answer, back };
  }

  async function job(id: string): Promise<any> {
    return (await c.api('GET', `/v1/airgap/jobs/${id}`)).json;
  }

  /** Carries bundles until the job is done; returns the round trips it took. */
  async function carryUntilDone(id: string, max = 8): Promise<{ trips: number; bytes: number[] }> {
    const bytes: number[] = [];
    for (let trips = 0; trips <= max; trips++) {
      for (let i = 0; i < 100 && (await job(id)).state === 'waiting' && (await c.api('GET', '/v1/airgap')).json.parties[0].queued === 0; i++) await new Promise((r) => setTimeout(r, 100));
      const j = await job(id);
      if (j.state === 'done') return { trips, bytes };
      assert.notEqual(j.state, 'failed', JSON.stringify(j.error));
      const t = await roundTrip();
      bytes.push(t.out.bytes, t.answer.answer.bytes);
    }
    assert.fail(`job ${id} not done after ${max} round trips`);
  }

  async function until(pred: () => Promise<boolean>, what: string, why?: () => Promise<string>): Promise<void> {
    for (let i = 0; i < 600; i++) { if (await pred()) return; await new Promise((r) => setTimeout(r, 100)); }
    assert.fail(`timed out waiting for ${what}${why ? `: ${await why()}` : ''}`);
  }

  const submit = (nonce: number) => c.sign(key.id, { payload: { type: 'eth-tx', hex: unsignedTx(WEI, nonce) }, intent: { to: TO, amount: String(WEI), asset: 'eth' } });

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'custos-airgap-'));
    c = await startTestCluster({ offline: ['node-3'] });
  });
  after(async () => {
    await c?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('key generation with the offline node: a few round trips, a cold key attested by every party', async () => {
    const r = await c.api('POST', '/v1/keys', { scheme: 'ecdsa-secp256k1', threshold: 2, cold: true });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    assert.deepEqual(r.json.offline, ['node-3']);
    const { trips } = await carryUntilDone(r.json.job);
    assert.equal(trips, 4, 'the four DKG rounds, the demo policy riding in the first bundle');
    key = (await c.api('GET', `/v1/keys/${r.json.keyId}`)).json;
    assert.equal(key.id, r.json.keyId);
    const status = await ok(['offline', 'status', '--home', offlineHome()]);
    assert.equal(status.keys.length, 1);
    assert.equal(status.policyVersion, 1, 'the demo policy went across in the first bundle');
    const verified = await ok(['keys', 'show', key.id, '--verify', '--genesis', layout(c.home).genesisPath]);
    assert.ok(verified, 'the attestations of all three parties verify against the genesis');
    assert.deepEqual(JSON.parse(readFileSync(join(offlineHome(), 'genesis.json'), 'utf8')).nodes.length, 3);
  });

  test('staging 256 presignatures takes three round trips (as staging 1 would)', async () => {
    const r = await c.api('POST', `/v1/keys/${key.id}/stage`, { count: 256, quorum: ['node-1', 'node-3'] });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    assert.equal(r.json.sessions, 4);
    const { trips } = await carryUntilDone(r.json.job);
    assert.equal(trips, 3);
    assert.equal((await job(r.json.job)).result.poolLevel, 256);
  });

  test('a batch of 100 Ethereum transactions signs in one round trip through files', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) {
      const s = await submit(i);
      assert.equal(s.status, 202, JSON.stringify(s.json));
      assert.equal(s.json.status, 'SIGNING');
      ids.push(s.json.requestId);
    }
    const t = await roundTrip();
    assert.equal(t.out.calls, 100);
    assert.equal(t.out.busy, 0, 'the bundle was sealed with every request in it');
    assert.equal(t.answer.refused, 0);
    assert.equal(t.back.answered, 100);
    const address = computeAddress('0x' + key.publicKey);
    await until(async () => (await Promise.all(ids.map((id) => c.api('GET', `/v1/requests/${id}`)))).every((x) => x.json.status === 'SIGNED'), '100 signatures', async () => JSON.stringify((await c.api('GET', `/v1/requests/${ids[0]}`)).json));
    for (const [i, id] of ids.entries()) {
      const v = (await c.api('GET', `/v1/requests/${id}`)).json;
      const tx = Transaction.from('0x' + v.signedTransaction);
      assert.equal(tx.from, address, `transaction ${i} recovers to the key's address`);
      assert.equal(tx.nonce, i);
      assert.deepEqual(v.signers, ['node-1', 'node-3']);
    }
  });
  test('the same sign batch through animated QR, with 30 % of the frames lost each way', async () => {
    const ids: string[] = [];
    for (let i = 100; i < 200; i++) ids.push((await submit(i)).json.requestId);
    const out = await ok(['airgap', 'export', '--out', dir('qr-out'), '--wait', '120', '--transport', 'qr']);
    assert.equal(out.calls, 100);
    assert.ok(readFileSync(out.page, 'utf8').includes('<img'), 'the HTML page loops the frames');
    const seen = dir('qr-seen');
    const c1 = capture(out.dir, seen, 0.3, 7);
    assert.ok(c1.kept < c1.total * 0.8, `frames were dropped (${c1.kept} of ${c1.total} kept)`);
    const answer = await ok(['offline', 'import', '--home', offlineHome(), '--qr', seen, '--out', dir('qr-back'), '--transport', 'qr']);
    assert.equal(answer.refused, 0);
    const seenBack = dir('qr-seen-back');
    capture(answer.answer.dir, seenBack, 0.3, 11);
    const back = await ok(['airgap', 'import', '--qr', seenBack]);
    assert.equal(back.answered, 100);
    const address = computeAddress('0x' + key.publicKey);
    await until(async () => (await Promise.all(ids.map((id) => c.api('GET', `/v1/requests/${id}`)))).every((x) => x.json.status === 'SIGNED'), '100 signatures over QR');
    for (const id of ids) assert.equal(Transaction.from('0x' + (await c.api('GET', `/v1/requests/${id}`)).json.signedTransaction).from, address);
  });

  test('tampered, truncated, misaddressed, out-of-order and replayed bundles are refused, and nothing is signed', async () => {
    const s1 = await submit(300);
    assert.equal(s1.status, 202, JSON.stringify(s1.json));
    const first = s1.json.requestId;
    const a = await ok(['airgap', 'export', '--out', dir('a'), '--wait', '60']);
    const second = (await submit(301)).json.requestId;
    const b = await ok(['airgap', 'export', '--out', dir('b'), '--wait', '60']);
    assert.equal(b.seq, a.seq + 1);
    const ready = async () => (await ok(['offline', 'status', '--home', offlineHome()])).keys[0].readyPresignatures as number;
    const before = await ready();
    const refused = async (bytes: Uint8Array, code: string) => {
      const d = dir('bad');
      const path = writeBundleFile(d, 'bad.bundle', bytes);
      const r = await cli(['offline', 'import', '--home', offlineHome(), path, '--out', dir('bad-out')]);
      assert.notEqual(r.code, 0, `a bundle that should fail with ${code} was accepted`);
      assert.match(r.err, new RegExp(code.replace('.', '\\.')), r.err);
      assert.doesNotMatch(r.err, /\n\s+at /, 'a clear message, not a stack trace');
      return r.err;
    };
    const bytesA = new Uint8Array(readFileSync(a.path));
    const tampered = Buffer.from(bytesA);
    const at = tampered.indexOf(Buffer.from('eth-tx'));
    tampered[at] = 'E'.charCodeAt(0);
    await refused(tampered, 'bundle.bad_signature');
    await refused(bytesA.subarray(0, bytesA.length - 200), 'bundle.truncated');
    const err = await refused(new Uint8Array(readFileSync(b.path)), 'bundle.out_of_order');
    assert.match(err, new RegExp(`expected bundle ${a.seq} from coordinator`));
    const oldAnswer = await ok(['offline', 'export', '--home', offlineHome(), '--out', dir('old')]);
    await refused(new Uint8Array(readFileSync(oldAnswer.answer.path)), 'bundle.misaddressed');
    // A file whose bytes changed on the way is caught by its checksum before anything else.
    const dd = dir('damaged');
    const damagedPath = join(dd, basename(a.path));
    copyFileSync(a.path + '.sha256', damagedPath + '.sha256');
    const damaged = Buffer.from(bytesA);
    damaged[10] ^= 1;
    writeFileSync(damagedPath, damaged);
    const dmg = await cli(['offline', 'import', '--home', offlineHome(), damagedPath, '--out', dir('x')]);
    assert.match(dmg.err, /transport\.checksum/, dmg.err);
    assert.equal(await ready(), before, 'no presignature was used by a refused bundle');
    for (const id of [first, second]) assert.equal((await c.api('GET', `/v1/requests/${id}`)).json.status, 'SIGNING');
    // In order, each once: A is served (its replay refused), then B.
    const ansA = await ok(['offline', 'import', '--home', offlineHome(), a.path, '--out', dir('ans-a')]);
    await refused(bytesA, 'bundle.replayed');
    const ansB = await ok(['offline', 'import', '--home', offlineHome(), b.path, '--out', dir('ans-b')]);
    // The coordinator checks answers the same way.
    const badAnswer = Buffer.from(readFileSync(ansA.answer.path));
    badAnswer[badAnswer.length - 70] ^= 1;
    const d = dir('bad-answer');
    const r = await cli(['airgap', 'import', writeBundleFile(d, 'bad.bundle', badAnswer)]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /bundle\.(bad_signature|malformed)/, r.err);
    await ok(['airgap', 'import', ansA.answer.path]);
    const again = await cli(['airgap', 'import', ansA.answer.path]);
    assert.match(again.err, /bundle\.replayed/);
    await ok(['airgap', 'import', ansB.answer.path]);
    await until(async () => (await c.api('GET', `/v1/requests/${second}`)).json.status === 'SIGNED' && (await c.api('GET', `/v1/requests/${first}`)).json.status === 'SIGNED', 'both requests signed after the good bundles');
  });

  test('without every online node\'s signed time nothing is sealed, and nothing is lost', async () => {
    const s = await submit(350);
    assert.equal(s.status, 202, JSON.stringify(s.json));
    await c.killNode('node-2');
    const r = await cli(['airgap', 'export', '--out', dir('unattested'), '--wait', '30']);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /node-2 \(node\.unreachable\) did not give it; nothing was sealed.*\[airgap\.unattested\]/, r.err);
    const st = (await c.api('GET', '/v1/airgap')).json.parties[0];
    assert.equal(st.queued, 1, 'the call still waits');
    await c.restartNode('node-2');
    const t = await roundTrip();
    assert.equal(t.out.seq, st.lastSent + 1, 'no sequence number was spent on the refused export');
    await until(async () => (await c.api('GET', `/v1/requests/${s.json.requestId}`)).json.status === 'SIGNED', 'the request signed after node-2 came back');
  });

  test('a transfer above the demo limit waits for an approver, then signs across the gap', async () => {
    const s = await c.sign(key.id, { payload: { type: 'eth-tx', hex: unsignedTx(2n * 10n ** 18n, 500) }, intent: { to: TO, amount: String(2n * 10n ** 18n), asset: 'eth' } });
    assert.equal(s.status, 202, JSON.stringify(s.json));
    assert.equal(s.json.status, 'PENDING_APPROVAL');
    const ap = await c.api('POST', `/v1/requests/${s.json.requestId}/approvals`, approvalBy(c.creds.identities['demo-approver-1'], s.json.requestDigest));
    assert.ok(ap.status < 300, JSON.stringify(ap.json));
    await until(async () => (await c.api('GET', '/v1/airgap')).json.parties[0].queued === 1, 'the approved request queued for node-3');
    const t = await roundTrip();
    assert.equal(t.answer.refused, 0, 'node-3 checked the approval itself and signed');
    await until(async () => (await c.api('GET', `/v1/requests/${s.json.requestId}`)).json.status === 'SIGNED', 'the approved request signed');
  });

  test('a limit only the nodes\' counters see sends a cold request to approval; the new policy version reaches node-3 first', async () => {
    const ids = Object.values(c.creds.identities).map(publicOf);
    const base = demoPolicy(ids);
    const v2 = parsePolicy({
      ...base, version: 2,
      rules: [
        { id: 'two-small-an-hour', match: { assets: ['eth'], txTypes: ['transfer'], amountMax: String(10n ** 18n), velocity: [{ windowSeconds: 3600, maxCount: 2, per: 'key' }] }, action: { type: 'allow' } },
        base.rules.find((r) => r.id === 'demo-allow-opt-in-types'),
        { id: 'otherwise-one-approver', match: {}, action: { type: 'approve', groups: [{ group: 'demo-approvers', threshold: 1 }], timelockSeconds: 0, expirySeconds: 86400 } },
      ],
    });
    const admins = Object.values(c.creds.identities).filter((i) => i.roles.includes('admin'));
    const pushed = await c.api('POST', '/v1/policy', signPolicyAs(genesisHash(readJson(layout(c.home).genesisPath)), v2, admins));
    assert.equal(pushed.status, 200, JSON.stringify(pushed.json));
    assert.deepEqual(pushed.json.nodes['node-3'], { queued: true, confirmedVersion: 1 });
    // The coordinator's preview (no counters) allows it; the nodes have signed hundreds of
    // transfers of this key within the hour, so their rule wants an approver.
    const s = await submit(600);
    assert.equal(s.status, 202, JSON.stringify(s.json));
    await until(async () => (await c.api('GET', `/v1/requests/${s.json.requestId}`)).json.status === 'PENDING_APPROVAL', 'the request sent to approval');
    const v = (await c.api('GET', `/v1/requests/${s.json.requestId}`)).json;
    assert.equal(v.requirement.groups[0].group, 'demo-approvers');
    await c.api('POST', `/v1/requests/${s.json.requestId}/approvals`, approvalBy(c.creds.identities['demo-approver-2'], v.requestDigest));
    await until(async () => (await c.api('GET', '/v1/airgap')).json.parties[0].queued >= 1, 'the approved request queued for node-3');
    const t = await roundTrip();
    assert.equal(t.out.calls, 2, 'policy version 2 first, then the sign call');
    assert.equal(t.answer.refused, 0);
    assert.equal((await ok(['offline', 'status', '--home', offlineHome()])).policyVersion, 2);
    await until(async () => (await c.api('GET', `/v1/requests/${s.json.requestId}`)).json.status === 'SIGNED', 'signed under version 2 with its approval');
    assert.equal((await c.api('GET', '/v1/policy')).json.nodes['node-3'].version, 2);
  });

  test('FROST too: a cold Ed25519 key, nonces staged in one round trip, a sign batch in one round trip', async () => {
    const r = await c.api('POST', '/v1/keys', { scheme: 'frost-ed25519', threshold: 2, cold: true });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    await carryUntilDone(r.json.job);
    const k = (await c.api('GET', `/v1/keys/${r.json.keyId}`)).json;
    assert.deepEqual(k.requiredParties, ['node-3']);
    const st = await c.api('POST', `/v1/keys/${k.id}/stage`, { count: 20, quorum: ['node-2', 'node-3'] });
    assert.equal(st.status, 202, JSON.stringify(st.json));
    assert.equal((await carryUntilDone(st.json.job)).trips, 1);
    const msgs = Array.from({ length: 10 }, (_, i) => utf8(`cold frost ${i}`));
    const ids: string[] = [];
    for (const m of msgs) {
      const s = await c.sign(k.id, { payload: { type: 'message', hex: toHex(m) } });
      assert.equal(s.status, 202, JSON.stringify(s.json));
      ids.push(s.json.requestId);
    }
    const t = await roundTrip();
    assert.equal(t.out.calls, 20, 'a reserve and a share call per signature, in the same bundle');
    assert.equal(t.back.answered, 20);
    await until(async () => (await Promise.all(ids.map((id) => c.api('GET', `/v1/requests/${id}`)))).every((x) => x.json.status === 'SIGNED'), '10 FROST signatures');
    for (const [i, id] of ids.entries()) {
      const v = (await c.api('GET', `/v1/requests/${id}`)).json;
      assert.ok(ed25519.verify(fromHex(v.signature), msgs[i], fromHex(k.publicKey)), `signature ${i} verifies (@noble/curves)`);
    }
  });

  test('online nodes refuse quorums without the offline node, also when the coordinator clears the cold flag', async () => {
    const node1 = c.nodeUrl('node-1');
    const post = (path: string, body: unknown) => fetch(node1 + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, json: await r.json() as any }));
    const p1 = await post('/v1/presign/round1', { sessionId: 'presign.hostile', keyId: key.id, quorum: ['node-1', 'node-2'], presignIds: ['hostile-1'] });
    assert.equal(p1.json.code, 'quorum.cold_key', JSON.stringify(p1.json));
    assert.match(p1.json.detail, /every quorum must include node-3/);
    const auth = c.authorization(key.id, { payload: { type: 'eth-tx', hex: unsignedTx(WEI, 400) }, intent: { to: TO, amount: String(WEI), asset: 'eth' } });
    const s1 = await post('/v1/sign/ecdsa', { keyId: key.id, presignId: 'any', quorum: ['node-1', 'node-2'], authorization: auth });
    assert.equal(s1.json.code, 'quorum.cold_key');

    // The coordinator's own copy of the flag is only a courtesy: cleared there, the nodes still refuse.
    await c.local.coordinator.stop();
    const coordDir = layout(c.home).coordinatorDir;
    const db = new DatabaseSync(join(coordDir, 'coordinator.db'));
    db.prepare(`UPDATE keys SET group_public = json_remove(group_public, '$.requiredParties') WHERE id = ?`).run(key.id);
    db.close();
    const coord = await spawnServer('coordinator', ['coordinator', '--data-dir', coordDir, '--port', new URL(c.url).port]);
    try {
      const r = await submit(401);
      assert.notEqual(r.status, 200, 'no signature without the offline node');
      assert.equal(r.json.code, 'quorum.cold_key', JSON.stringify(r.json));
      const after = await ok(['offline', 'status', '--home', offlineHome()]);
      assert.ok(after.keys[0].readyPresignatures > 0);
    } finally {
      await stopChild(coord.child);
    }
  });
});
