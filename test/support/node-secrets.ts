/**
 * Test helper run as a child process (its own SOFTHSM2_CONF): opens a STOPPED node's token and
 * database and prints, hex, every secret the node holds or received: its key shares, its unused
 * nonces, and the DKG share contributions addressed to it in the relayed round-one envelopes
 * (argv[3], a JSON file). The tests then search files and logs for these bytes.
 *   N test/support/node-secrets.ts <node data dir> <relayed dkg/1 envelopes json | ->
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toHex, fromHex } from '../../src/common/bytes.ts';
import { loadNodeConfig } from '../../src/node/config.ts';
import { openNodeKeystore } from '../../src/node/main.ts';
import { NodeStore } from '../../src/node/store.ts';
import { eciesDecrypt } from '../../src/crypto/ecies.ts';
import { shareContext } from '../../src/protocols/dkg/params.ts';
import type { DkgParams } from '../../src/protocols/dkg/types.ts';

const [dataDir, relayedPath] = process.argv.slice(2);
const cfg = loadNodeConfig(dataDir);
const ks = openNodeKeystore(cfg);
const store = new NodeStore(join(cfg.dataDir, 'node.db'));
const out: { keyShares: string[]; nonces: string[]; dkgShares: string[]; presignatures?: { id: string; phi: string; u: string; v: string }[]; maskKeys?: string[] } = { keyShares: [], nonces: [], dkgShares: [] };
for (const k of store.listKeys()) out.keyShares.push(toHex(ks.unseal(k.sealed_share, { keyId: k.id, party: cfg.id, purpose: 'key-share' })));
for (const r of store.db.prepare(`SELECT id, key_id, sealed FROM nonces WHERE sealed IS NOT NULL`).all() as { id: string; key_id: string; sealed: Uint8Array }[]) {
  const bytes = ks.unseal(r.sealed, { keyId: `${r.key_id}/${r.id}`, party: cfg.id, purpose: 'frost-nonce' });
  // The sealed encoding ends with the two 32-byte nonce scalars (hiding, binding).
  out.nonces.push(toHex(bytes.subarray(bytes.length - 64, bytes.length - 32)), toHex(bytes.subarray(bytes.length - 32)));
}
// Threshold-ECDSA secrets: unused presignature shares and the pairwise mask keys.
const presigs = store.db.prepare(`SELECT id, key_id, sealed FROM presignatures WHERE sealed IS NOT NULL`).all() as { id: string; key_id: string; sealed: Uint8Array }[];
if (presigs.length) out.presignatures = presigs.map((r) => {
  const o = JSON.parse(new TextDecoder().decode(ks.unseal(r.sealed, { keyId: `${r.key_id}/${r.id}`, party: cfg.id, purpose: 'presignature' })));
  return { id: r.id, phi: o.share.phi, u: o.share.u, v: o.share.v };
});
for (const k of store.listKeys()) {
  if (!k.sealed_setup) continue;
  const pairs = JSON.parse(new TextDecoder().decode(ks.unseal(k.sealed_setup, { keyId: k.id, party: cfg.id, purpose: 'dkls-setup' }))) as Record<string, { mask: string }>;
  (out.maskKeys ??= []).push(...Object.values(pairs).map((p) => p.mask));
}
if (relayedPath && relayedPath !== '-') {
  const relayed = JSON.parse(readFileSync(relayedPath, 'utf8')) as { session: string; from: string; payload: { shares: Record<string, string> } }[];
  for (const env of relayed) {
    const row = store.getDkg(env.session);
    if (!row || env.from === cfg.id) continue;
    const params = JSON.parse(row.params) as DkgParams;
    const ct = env.payload.shares[cfg.id];
    const share = ks.withEncryptionKey((sk) => eciesDecrypt(sk, fromHex(ct), shareContext(params, env.from, cfg.id)));
    out.dkgShares.push(toHex(share));
  }
}
store.close();
ks.close();
process.stdout.write(JSON.stringify(out) + '\n');
