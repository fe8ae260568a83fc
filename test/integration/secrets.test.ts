import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8 } from '../../src/common/bytes.ts';
import type { Envelope } from '../../src/wire/envelope.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';

/**
 * Secrets never leave the HSM seal: the coordinator relays DKG shares only encrypted, and the
 * nodes' files (SQLite, WAL, token, config), the coordinator's files and every log line hold no
 * clear share, nonce or DKG share contribution.
 */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

function encodings(hex: string): Buffer[] {
  const raw = Buffer.from(hex, 'hex');
  return [raw, Buffer.from(hex), Buffer.from(hex.toUpperCase()), Buffer.from(raw.toString('base64')), Buffer.from(raw.toString('base64url')), Buffer.from(Buffer.from(raw).reverse().toString('hex'))];
}

describe('secrets at rest and in transit', () => {
  let c: TestCluster;
  const relayed: { round: string; envs: Envelope[] }[] = [];
  before(async () => { c = await startTestCluster({ relayTap: (round, envs) => relayed.push({ round, envs: structuredClone(envs) }) }); });
  after(async () => { await c?.stop(); });

  test('the coordinator never sees a DKG share in clear, and no file or log holds a secret', async () => {
    for (const scheme of ['frost-ed25519', 'frost-secp256k1', 'bip340', 'ecdsa-secp256k1']) {
      const k = await c.api('POST', '/v1/keys', { scheme, threshold: 2 });
      assert.equal(k.status, 201, JSON.stringify(k.json));
      const payload = (i: number) => (scheme === 'ecdsa-secp256k1' ? { type: 'digest', hex: toHex(sha256(utf8(`m${i}`))) } : { type: 'message', hex: toHex(utf8(`m${i}`)) });
      for (let i = 0; i < 3; i++) assert.equal((await c.sign(k.json.id, { payload: payload(i) })).status, 200);
    }
    assert.ok(relayed.some((r) => r.round === 'presign/2'), 'presigning messages were relayed (and are searched)');
    const round1 = relayed.filter((r) => r.round === 'dkg/1').flatMap((r) => r.envs);
    assert.equal(round1.length, 12, 'four DKGs of three parties');
    const tapFile = join(c.home, 'relayed-round1.json');
    writeFileSync(tapFile, JSON.stringify(round1));

    // Stop everything so files are quiescent, then let each node's own token reveal its secrets.
    await c.halt();
    const secrets: { what: string; hex: string }[] = [];
    for (const node of ['node-1', 'node-2', 'node-3']) {
      const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'test/support/node-secrets.ts', c.nodeDir(node), tapFile], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const s = JSON.parse(r.stdout) as { keyShares: string[]; nonces: string[]; dkgShares: string[]; presignatures?: { phi: string; u: string; v: string }[]; maskKeys?: string[] };
      assert.equal(s.keyShares.length, 4, `${node} holds a share of each key`);
      assert.equal(s.dkgShares.length, 8, `${node} received two DKG share contributions per key`);
      assert.ok(s.nonces.length > 0, `${node} has unused pooled nonces`);
      assert.ok((s.presignatures ?? []).length > 0, `${node} has unused presignatures`);
      assert.equal(s.maskKeys?.length, 2, `${node} shares a mask key with each other party of the ECDSA key`);
      const { presignatures, ...lists } = s;
      // A sample of presignatures: each is three secret scalars, and the search is linear in them.
      for (const p of (presignatures ?? []).slice(0, 4)) lists.nonces.push(p.phi, p.u, p.v);
      for (const [what, list] of Object.entries(lists)) for (const hex of list as string[]) secrets.push({ what: `${node} ${what}`, hex });
    }
    // A pair's mask key is held by both parties of the pair: it appears once per holder.
    const masks = secrets.filter((x) => x.what.endsWith('maskKeys')).map((x) => x.hex);
    assert.equal(new Set(masks).size * 2, masks.length, 'each pair mask key is held by exactly its two parties');
    assert.equal(new Set(secrets.map((x) => x.hex)).size, secrets.length - masks.length / 2, 'secrets are distinct random values');

    const haystacks: { name: string; data: Buffer }[] = [
      { name: 'relayed envelopes', data: Buffer.from(JSON.stringify(relayed)) },
      { name: 'logs', data: Buffer.from(c.logs.join('\n')) },
      ...filesUnder(c.home).filter((f) => f !== tapFile).map((f) => ({ name: f.slice(c.home.length), data: readFileSync(f) })),
    ];
    assert.ok(haystacks.some((h) => h.name.endsWith('node.db')) && haystacks.some((h) => h.name.includes('/hsm/tokens/')));
    // Control: the search does find public values (a relayed commitment) where they are.
    const publicHex = (round1[0].payload as unknown as { commitments: string[] }).commitments[0];
    assert.ok(haystacks.some((h) => h.data.includes(Buffer.from(publicHex))), 'control: public commitments are found');
    for (const s of secrets) {
      for (const enc of encodings(s.hex)) {
        for (const h of haystacks) assert.ok(!h.data.includes(enc), `${s.what} found in ${h.name}`);
      }
    }
  });
});
