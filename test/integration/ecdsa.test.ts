import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { HDKey } from '@scure/bip32';
import { fromHex, toHex, utf8 } from '../../src/common/bytes.ts';
import { genesisHash, parseGenesis } from '../../src/wire/genesis.ts';
import { verifyKeyAttestations } from '../../src/wire/attestation.ts';
import { eip1559Case, finishEip1559, p2wpkhCase } from '../support/chain-verifiers.ts';
import { readJson, startTestCluster, type TestCluster } from '../support/cluster.ts';
import { computeAddress } from 'ethers';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { countersignaturesIn, parseAuditJsonl, verifyAuditLog } from '../../src/wire/audit-chain.ts';

/**
 * Threshold ECDSA through the REST API of a real cluster (three node processes with SoftHSM
 * tokens): signatures checked by verifiers we did not write (@noble/curves, ethers,
 * bitcoinjs-lib), BIP32 keys by @scure/bip32, pool use by the coordinator's own metric.
 */
describe('threshold ECDSA (DKLs23) through the API', () => {
  let c: TestCluster;
  let key: any;
  before(async () => {
    c = await startTestCluster();
    const k = await c.api('POST', '/v1/keys', { scheme: 'ecdsa-secp256k1', threshold: 2 });
    assert.equal(k.status, 201, JSON.stringify(k.json));
    key = k.json;
  });
  after(async () => { await c?.stop(); });

  const sign = (body: any, headers?: Record<string, string>) => c.sign(key.id, body, headers);
  const digestOf = (s: string) => toHex(sha256(utf8(s)));

  async function poolCount(result: 'hit' | 'miss', quorum: string): Promise<number> {
    const m = await c.api('GET', '/metrics');
    const line = String(m.json).split('\n').find((l) => l.startsWith(`custos_presign_pool_total{`) && l.includes(`result="${result}"`) && l.includes(`quorum="${quorum}"`));
    return line ? Number(line.split(' ').pop()) : 0;
  }

  async function warm(): Promise<void> {
    // The coordinator presigns in the background; wait (bounded) until a sign call is served from a pool.
    for (let i = 0; i < 60; i++) {
      const r = await sign({ payload: { type: 'digest', hex: digestOf(`warm ${i}`) } });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      if (r.json.presigned) return;
      await new Promise((res) => setTimeout(res, 500));
    }
    assert.fail('no pooled presignature within the bounded wait');
  }

  test('the key is attested with its chain code by every party; the xpub matches @scure/bip32', async () => {
    assert.equal(key.scheme, 'ecdsa-secp256k1');
    assert.match(key.publicKey, /^0[23][0-9a-f]{64}$/);
    assert.match(key.chainCode, /^[0-9a-f]{64}$/);
    const genesis = parseGenesis(readJson(`${c.home}/genesis.json`));
    verifyKeyAttestations(genesis, genesisHash(genesis), { keyId: key.id, scheme: key.scheme, threshold: 2, parties: key.parties, publicKey: key.publicKey, transcriptHash: key.attestations[0].transcriptHash, chainCode: key.chainCode }, key.attestations);
    assert.throws(() => verifyKeyAttestations(genesis, genesisHash(genesis), { keyId: key.id, scheme: key.scheme, threshold: 2, parties: key.parties, publicKey: key.publicKey, transcriptHash: key.attestations[0].transcriptHash, chainCode: '00'.repeat(32) }, key.attestations),
      (e: any) => e.code === 'attestation.mismatch', 'a swapped chain code is caught');
    const x = await c.api('GET', `/v1/keys/${key.id}/xpub?path=m/44/60/0/0/7`);
    assert.equal(x.status, 200, JSON.stringify(x.json));
    const hd = HDKey.fromExtendedKey(x.json.xpub);
    assert.equal(toHex(hd.publicKey!), key.publicKey);
    assert.equal(toHex(hd.chainCode!), key.chainCode);
    assert.equal(x.json.derivedPublicKey, toHex(hd.derive('m/44/60/0/0/7').publicKey!));
    const hardened = await c.api('GET', `/v1/keys/${key.id}/xpub?path=m/44'/60`);
    assert.equal(hardened.status, 400);
    assert.equal(hardened.json.code, 'derivation.hardened');
  });

  test('the CLI verifies the attested key and chain code, prints the xpub and signs a digest under a path', () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'src/cli/main.ts', ...args, '--url', c.url], { encoding: 'utf8', env: { ...process.env, CUSTOS_HOME: c.home } });
    const shown = cli('keys', 'show', key.id, '--verify', '--genesis', join(c.home, 'genesis.json'));
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(JSON.parse(shown.stdout).verified, /all 3 attestations check out/);
    const x = cli('keys', 'xpub', key.id, '--path', 'm/0/1');
    assert.equal(x.status, 0, x.stderr);
    assert.equal(JSON.parse(x.stdout).derivedPublicKey, toHex(HDKey.fromExtendedKey(JSON.parse(x.stdout).xpub).derive('m/0/1').publicKey!));
    const digest = digestOf('from the cli');
    const signed = cli('sign', key.id, '--digest', digest, '--path', 'm/0/1');
    assert.equal(signed.status, 0, signed.stderr);
    const out = JSON.parse(signed.stdout);
    assert.ok(secp256k1.verify(fromHex(out.signature), fromHex(digest), fromHex(out.publicKey), { prehash: false, lowS: true }));
    assert.equal(out.publicKey, JSON.parse(x.stdout).derivedPublicKey);
  });

  test('signs raw digests (uncached and pooled); @noble/curves verifies with low s and recovers the key', async () => {
    const first = await sign({ payload: { type: 'digest', hex: digestOf('first') } });
    assert.equal(first.status, 200, JSON.stringify(first.json));
    await warm();
    const r = await sign({ payload: { type: 'digest', hex: digestOf('pooled') } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(Object.keys(r.json).sort(), ['presigned', 'publicKey', 'recoveryId', 'requestId', 'signature', 'signers', 'status']);
    assert.equal(r.json.publicKey, key.publicKey);
    for (const out of [first.json, r.json]) {
      const d = fromHex(out === first.json ? digestOf('first') : digestOf('pooled'));
      assert.ok(secp256k1.verify(fromHex(out.signature), d, fromHex(key.publicKey), { prehash: false, lowS: true }));
      const rec = secp256k1.Signature.fromBytes(fromHex(out.signature), 'compact').addRecoveryBit(out.recoveryId).recoverPublicKey(d).toBytes(true);
      assert.equal(toHex(rec), key.publicKey);
    }
  });

  test('an EIP-1559 transaction built with ethers, signed through the API, recovers to the key address', async () => {
    const path = 'm/44/60/0/0/7';
    const { tx, digest } = eip1559Case(1);
    const r = await sign({ payload: { type: 'digest', hex: toHex(digest) }, derivationPath: path });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const derived = HDKey.fromExtendedKey((await c.api('GET', `/v1/keys/${key.id}/xpub`)).json.xpub).derive(path);
    assert.equal(r.json.publicKey, toHex(derived.publicKey!));
    const out = finishEip1559(tx, { signature: fromHex(r.json.signature), recoveryId: r.json.recoveryId }, fromHex(r.json.publicKey));
    assert.equal(out.from, computeAddress('0x' + r.json.publicKey));
  });

  test('a BIP143 P2WPKH input signed through the API validates with bitcoinjs-lib', async () => {
    const path = 'm/84/0/0/0/3';
    const pub = fromHex((await c.api('GET', `/v1/keys/${key.id}/xpub?path=${path}`)).json.derivedPublicKey);
    const btc = p2wpkhCase(pub);
    const r = await sign({ payload: { type: 'digest', hex: toHex(btc.digest) }, derivationPath: path });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const out = btc.finish({ signature: fromHex(r.json.signature), recoveryId: r.json.recoveryId });
    assert.equal(out.valid, true);
    assert.match(out.txHex, /^[0-9a-f]+$/);
  });

  test('client mistakes are 400 problems, never 500; replays under an Idempotency-Key return the same result', async () => {
    const cases: [unknown, string][] = [
      [{ payload: { type: 'message', hex: 'abcd' } }, 'sign.bad_payload'],
      [{ payload: { type: 'digest', hex: 'ab' } }, 'payload.undecodable'],
      [{ payload: { type: 'digest', hex: digestOf('x') }, derivationPath: "m/44'/0" }, 'derivation.hardened'],
      [{ payload: { type: 'digest', hex: digestOf('x') }, derivationPath: 'm/x' }, 'derivation.bad_path'],
    ];
    for (const [body, code] of cases) {
      const r = await sign(body);
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.equal(r.json.code, code);
      assert.match(r.contentType, /application\/problem\+json/);
    }
    // A retry sends the very same signed request.
    const { approvals: _none, ...body } = c.authorization(key.id, { payload: { type: 'digest', hex: digestOf('idem') }, derivationPath: 'm/1' });
    const a = await c.api('POST', `/v1/keys/${key.id}/sign`, body, { 'idempotency-key': 'ecdsa-idem-1' });
    const b = await c.api('POST', `/v1/keys/${key.id}/sign`, body, { 'idempotency-key': 'ecdsa-idem-1' });
    assert.equal(a.status, 200);
    assert.deepEqual(b.json, a.json);
  });

  test('each node keeps a signed, hash-chained audit log; custos audit verify names an edited entry and a cut tail', async () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'src/cli/main.ts', 'audit', 'verify', '--party', 'node-1', '--genesis', join(c.home, 'genesis.json'), '--url', c.url, ...args], { encoding: 'utf8', env: { ...process.env, CUSTOS_HOME: c.home } });
    const ok = cli('--node-url', c.nodeUrl('node-1'));
    assert.equal(ok.status, 0, ok.stderr);
    const report = JSON.parse(ok.stdout);
    assert.equal(report.intact, true);
    assert.ok(report.entries >= 2 && report.anchorsChecked === 1, ok.stdout);
    const text = await (await fetch(`${c.nodeUrl('node-1')}/v1/audit`)).text();
    const lines = text.trim().split('\n');
    const kinds = lines.map((l) => JSON.parse(l).kind);
    assert.equal(kinds[0], 'policy.activated', 'the demo policy is activated before anything else');
    assert.ok(kinds.indexOf('key.created') < kinds.indexOf('share.released'));
    assert.ok(kinds.indexOf('request.received') < kinds.indexOf('share.released'), 'a request is logged when first seen, before any share');
    const syslog = await (await fetch(`${c.nodeUrl('node-1')}/v1/audit?format=syslog`)).text();
    assert.equal(syslog.trim().split('\n').length, lines.length, 'one syslog line per entry');
    assert.match(syslog, /^<\d+>1 \S+ node-1 custos - policy\.activated \[custos@32473 party="node-1" seq="1" /);
    const file = join(c.home, 'audit-node-1.jsonl');
    // An edited entry (its data changed, hash and signature left as they were) is named.
    const at = kinds.indexOf('share.released');
    const edited = lines.map((l, i) => (i === at ? l.replace('"share.released"', '"share.refused"') : l));
    writeFileSync(file, edited.join('\n') + '\n');
    const bad = cli('--file', file);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, new RegExp(`entry ${at + 1} \\(line ${at + 1}\\) was edited[\\s\\S]*audit\\.edited`));
    // A cut tail is caught against the anchor the node handed out with its last share.
    writeFileSync(file, lines.slice(0, -1).join('\n') + '\n');
    const cut = cli('--file', file);
    assert.equal(cut.status, 1);
    assert.match(cut.stderr, /tail was cut[\s\S]*audit\.truncated/);
    // Co-signers countersign: node-1's heads are in the other nodes' own logs (the peers list of their share.released entries), so
    // a cut is caught from a peer's log alone, without any anchor kept by the coordinator.
    const genesis = parseGenesis(readJson(join(c.home, 'genesis.json')));
    const keyOf = (id: string) => fromHex(genesis.nodes.find((n) => n.id === id)!.identityKey);
    const cs: ReturnType<typeof countersignaturesIn> = [];
    for (const peer of ['node-2', 'node-3']) {
      const peerLog = parseAuditJsonl(await (await fetch(`${c.nodeUrl(peer)}/v1/audit`)).text());
      verifyAuditLog(peer, keyOf(peer), peerLog);
      cs.push(...countersignaturesIn(peerLog, 'node-1', keyOf('node-1')));
    }
    assert.ok(cs.length >= 1, 'node-1 was countersigned by a co-signer');
    const mine = parseAuditJsonl(text);
    assert.equal(verifyAuditLog('node-1', keyOf('node-1'), mine, [], cs).seq, mine.length);
    const newest = Math.max(...cs.map((x) => x.seq));
    assert.throws(() => verifyAuditLog('node-1', keyOf('node-1'), mine.slice(0, newest - 1), [], cs), (e: any) => e.code === 'audit.truncated');
  });

  test('with each node killed in turn, signatures still come from the pool of the surviving quorum', async () => {
    const parties: string[] = key.parties;
    for (const dead of parties) {
      const alive = parties.filter((p) => p !== dead).join(',');
      await c.killNode(dead);
      // Give the background presigner time to fill the surviving quorum's pool (bounded).
      let served = false;
      for (let i = 0; i < 40 && !served; i++) {
        const before = await poolCount('hit', alive);
        const r = await sign({ payload: { type: 'digest', hex: digestOf(`without ${dead} ${i}`) } });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.deepEqual([...r.json.signers].sort().join(','), alive);
        if (r.json.presigned) {
          assert.equal(await poolCount('hit', alive), before + 1, 'the pool metric counts the hit for the surviving quorum');
          served = true;
        } else {
          await new Promise((res) => setTimeout(res, 500));
        }
      }
      assert.ok(served, `a pooled presignature of ${alive} served a signature while ${dead} was down`);
      await c.restartNode(dead);
    }
  });
});
