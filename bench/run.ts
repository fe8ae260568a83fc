/**
 * `npm run bench`: FROST 2-of-3 signing through the coordinator's REST API beside a single-key
 * baseline (Ed25519 with its key in SoftHSM, behind the same REST shape), measured in the same
 * run with the same harness, both with production durability (SQLite WAL, synchronous=FULL,
 * every request recorded before and after signing). Prints a table, or with --json one JSON
 * object per figure.
 *   --requests N (default 400)  --concurrency C (default 8)  --scheme S (default frost-ed25519;
 *   ecdsa-secp256k1 runs the threshold-ECDSA figures of bench/ecdsa.ts)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { checkNodeVersion } from '../src/common/runtime.ts';
import { runLoad, type LoadResult } from './harness.ts';

checkNodeVersion();
const { initLocalCluster, spawnServer, startLocalCluster, stopChild } = await import('../src/cli/local-cluster.ts');

const { values } = parseArgs({ options: { json: { type: 'boolean' }, requests: { type: 'string' }, concurrency: { type: 'string' }, scheme: { type: 'string' }, keep: { type: 'boolean' } } });
const requests = Number(values.requests ?? 400);
const concurrency = Number(values.concurrency ?? 8);
const scheme = values.scheme ?? 'frost-ed25519';
const warmup = Math.min(50, Math.ceil(requests / 10));
const log = (s: string) => { if (!values.json) process.stderr.write(s + '\n'); };

if (scheme === 'ecdsa-secp256k1') {
  const { benchEcdsa } = await import('./ecdsa.ts');
  const figures = await benchEcdsa({ requests, concurrency, keep: values.keep ?? false, log });
  printEcdsa(figures);
  process.exit(0);
}

const home = mkdtempSync(join(tmpdir(), 'custos-bench-'));
const poolLow = Math.max(64, concurrency * 8);
const figures: Record<string, unknown>[] = [];
let cluster: Awaited<ReturnType<typeof startLocalCluster>> | undefined;
let legacy: Awaited<ReturnType<typeof spawnServer>> | undefined;
try {
  log(`custos bench: provisioning a 3-node cluster in ${home}`);
  await initLocalCluster(home);
  cluster = await startLocalCluster(home, { port: 0, pool: { low: poolLow, batch: 64, intervalMs: 200 } });
  const created = await (await fetch(`${cluster.url}/v1/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scheme, threshold: 2 }) })).json() as { id: string };
  log(`  key ${created.id} (${scheme} 2-of-3); warming nonce pools to ${poolLow}`);
  await waitForPool(cluster.url, created.id, poolLow);

  const legacyDir = join(home, 'legacy');
  legacy = await spawnServer('legacy', [], {}, undefined, resolve(import.meta.dirname, '../src/cli/legacy-signer-main.ts'), ['--data-dir', legacyDir, '--port', '0']);
  const legacyKey = (legacy.extra as { keyId: string }).keyId;

  const measure = async (name: string, url: string, keyId: string): Promise<LoadResult> => {
    await runLoad({ url, keyId, requests: warmup, concurrency });
    const r = await runLoad({ url, keyId, requests, concurrency });
    log(`  ${name}: ${r.requests} requests at concurrency ${r.concurrency} in ${r.seconds.toFixed(2)} s`);
    return r;
  };
  // The baseline runs first, while the cluster sits idle with full pools, so it is not slowed by
  // the cluster's background refills; the threshold run then includes its own refills.
  const baseline = await measure('single-key Ed25519 in SoftHSM', legacy.url, legacyKey);
  const threshold = await measure(`${scheme} 2-of-3 via coordinator`, cluster.url, created.id);
  const metrics = await (await fetch(`${cluster.url}/metrics`)).text();
  const hits = Number(/custos_nonce_pool_total\{result="hit"\} (\d+)/.exec(metrics)?.[1] ?? 0);
  const misses = Number(/custos_nonce_pool_total\{result="miss"\} (\d+)/.exec(metrics)?.[1] ?? 0);

  figures.push({ figure: 'threshold', scheme, threshold: '2-of-3', ...round(threshold), poolHits: hits, poolMisses: misses });
  figures.push({ figure: 'baseline', scheme: 'ed25519-softhsm-single-key', ...round(baseline) });
  figures.push({ figure: 'ratio', throughput: +(threshold.throughput / baseline.throughput).toFixed(3), p50: +(threshold.p50ms / baseline.p50ms).toFixed(2), p95: +(threshold.p95ms / baseline.p95ms).toFixed(2), note: 'threshold / baseline; throughput ratio < 1 means slower than the single-key baseline' });
} finally {
  if (legacy) await stopChild(legacy.child);
  if (cluster) await cluster.stop();
  if (!values.keep) rmSync(home, { recursive: true, force: true });
}

if (values.json) {
  for (const f of figures) process.stdout.write(JSON.stringify(f) + '\n');
} else {
  const rows = figures.filter((f) => f.figure !== 'ratio') as (Record<string, number | string>)[];
  process.stdout.write(`\n${'signer'.padEnd(34)}${'p50 ms'.padStart(9)}${'p95 ms'.padStart(9)}${'sig/s'.padStart(9)}${'conc'.padStart(6)}${'errors'.padStart(8)}\n`);
  for (const r of rows) {
    const name = r.figure === 'threshold' ? `${r.scheme} ${r.threshold}` : String(r.scheme);
    process.stdout.write(`${name.padEnd(34)}${String(r.p50ms).padStart(9)}${String(r.p95ms).padStart(9)}${String(r.throughput).padStart(9)}${String(r.concurrency).padStart(6)}${String(r.errors).padStart(8)}\n`);
  }
  const ratio = figures.find((f) => f.figure === 'ratio')!;
  process.stdout.write(`\nratio threshold/baseline: throughput ${ratio.throughput}x, p50 ${ratio.p50}x, p95 ${ratio.p95}x\n`);
}

function printEcdsa(figures: Record<string, unknown>[]): void {
  if (values.json) {
    for (const f of figures) process.stdout.write(JSON.stringify(f) + '\n');
    return;
  }
  const f = (name: string) => figures.find((x) => x.figure === name) as Record<string, any>;
  const k = f('keygen'); const p = f('presign'); const o = f('online'); const u = f('uncached'); const s = f('sustained'); const b = f('baseline'); const r = f('ratio');
  const lines = [
    ['figure', 'value', 'target'],
    ['key generation 2-of-3 (median of 3)', `${k.medianMs} ms`, '<= 5000 ms'],
    ['presignatures/s (background)', `${p.perSecond}`, ''],
    [`online p50 / p95 (conc ${o.concurrency}, warm pool)`, `${o.p50ms} / ${o.p95ms} ms`, ''],
    ['online throughput', `${o.throughput} sig/s (hits ${o.poolHits}, misses ${o.poolMisses})`, ''],
    ['uncached p50 / p95 (conc 1)', `${u.p50ms} / ${u.p95ms} ms`, 'p95 <= 250 ms'],
    [`sustained incl. presigning (conc ${s.concurrency})`, `${s.throughput} sig/s = ${s.perHour}/h`, '>= 100000/h'],
    [`baseline secp256k1 SoftHSM (conc ${b.concurrency})`, `${b.throughput} sig/s, p50 ${b.p50ms} / p95 ${b.p95ms} ms`, ''],
    ['ratio online / baseline', `${r.throughput}x`, '>= 0.25x'],
  ];
  process.stdout.write('\n' + lines.map((l) => `${l[0].padEnd(44)}${l[1].padEnd(46)}${l[2]}`).join('\n') + '\n');
}

function round(r: LoadResult) {
  return { requests: r.requests, concurrency: r.concurrency, seconds: +r.seconds.toFixed(2), throughput: +r.throughput.toFixed(1), p50ms: +r.p50ms.toFixed(1), p95ms: +r.p95ms.toFixed(1), p99ms: +r.p99ms.toFixed(1), errors: r.errors };
}

async function waitForPool(url: string, keyId: string, level: number): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    const m = await (await fetch(`${url}/metrics`)).text();
    const levels = [...m.matchAll(new RegExp(`custos_nonce_pool_level\\{key="${keyId}",quorum="[^"]+"\\} (\\d+)`, 'g'))].map((x) => Number(x[1]));
    if (levels.length >= 3 && Math.min(...levels) >= level) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('nonce pools did not fill within 180 s');
}
