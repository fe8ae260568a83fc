/**
 * FROST 2-of-3 signing through the coordinator's REST API beside a single-key baseline (Ed25519
 * with its key in SoftHSM, behind the same REST shape), in the same run with the same harness,
 * both with production durability.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runLoad, signedBodies, summary as round, type LoadResult } from './harness.ts';

const { initLocalCluster, spawnServer, startLocalCluster, stopChild } = await import('../src/cli/local-cluster.ts');

export async function benchFrost(opts: { scheme: string; requests: number; concurrency: number; keep: boolean; log: (s: string) => void }): Promise<Record<string, unknown>[]> {
  const { scheme, requests, concurrency, log } = opts;
  const warmup = Math.min(50, Math.ceil(requests / 10));
  const home = mkdtempSync(join(tmpdir(), 'custos-bench-'));
  const poolLow = Math.max(64, concurrency * 8);
  const figures: Record<string, unknown>[] = [];
  let cluster: Awaited<ReturnType<typeof startLocalCluster>> | undefined;
  let legacy: Awaited<ReturnType<typeof spawnServer>> | undefined;
  try {
    log(`custos bench: provisioning a 3-node cluster in ${home}`);
    await initLocalCluster(home);
    cluster = await startLocalCluster(home, { port: 0, pool: { low: poolLow, batch: 64, intervalMs: 200 } });
    const token = JSON.parse(readFileSync(join(home, 'credentials.json'), 'utf8')).token as string;
    const created = await (await fetch(`${cluster.url}/v1/keys`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ scheme, threshold: 2 }) })).json() as { id: string };
    log(`  key ${created.id} (${scheme} 2-of-3); warming nonce pools to ${poolLow}`);
    await waitForPool(cluster.url, created.id, poolLow);

    const legacyDir = join(home, 'legacy');
    legacy = await spawnServer('legacy', [], {}, undefined, resolve(import.meta.dirname, '../src/cli/legacy-signer-main.ts'), ['--data-dir', legacyDir, '--port', '0']);
    const legacyKey = (legacy.extra as { keyId: string }).keyId;

    const message = (i: number) => ({ type: 'message', hex: Buffer.from(`bench message ${i} `.padEnd(64, '.')).toString('hex') });
    const measure = async (name: string, url: string, keyId: string, threshold: boolean): Promise<LoadResult> => {
      // The threshold key takes initiator-signed requests (signed before the timed loop).
      const auth = async (n: number) => (threshold ? signedBodies(home, keyId, n, message) : {});
      await runLoad({ url, keyId, requests: warmup, concurrency, ...(await auth(warmup)) });
      const r = await runLoad({ url, keyId, requests, concurrency, ...(await auth(requests)) });
      log(`  ${name}: ${r.requests} requests at concurrency ${r.concurrency} in ${r.seconds.toFixed(2)} s`);
      return r;
    };
    // The baseline runs first, while the cluster sits idle with full pools, so it is not slowed by
    // the cluster's background refills; the threshold run then includes its own refills.
    const baseline = await measure('single-key Ed25519 in SoftHSM', legacy.url, legacyKey, false);
    const threshold = await measure(`${scheme} 2-of-3 via coordinator`, cluster.url, created.id, true);
    const metrics = await (await fetch(`${cluster.url}/metrics`)).text();
    const hits = Number(/custos_nonce_pool_total\{result="hit"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    const misses = Number(/custos_nonce_pool_total\{result="miss"\} (\d+)/.exec(metrics)?.[1] ?? 0);

    figures.push({ figure: 'threshold', scheme, threshold: '2-of-3', ...round(threshold), poolHits: hits, poolMisses: misses });
    figures.push({ figure: 'baseline', scheme: 'ed25519-softhsm-single-key', ...round(baseline) });
    figures.push({ figure: 'ratio', throughput: +(threshold.throughput / baseline.throughput).toFixed(3), p50: +(threshold.p50ms / baseline.p50ms).toFixed(2), p95: +(threshold.p95ms / baseline.p95ms).toFixed(2), note: 'threshold / baseline; throughput ratio < 1 means slower than the single-key baseline' });
  } finally {
    if (legacy) await stopChild(legacy.child);
    if (cluster) await cluster.stop();
    if (!opts.keep) rmSync(home, { recursive: true, force: true });
  }
  return figures;
}

export function printFrost(figures: Record<string, unknown>[]): void {
  const rows = figures.filter((f) => f.figure !== 'ratio') as (Record<string, number | string>)[];
  process.stdout.write(`\n${'signer'.padEnd(34)}${'p50 ms'.padStart(9)}${'p95 ms'.padStart(9)}${'sig/s'.padStart(9)}${'conc'.padStart(6)}${'errors'.padStart(8)}\n`);
  for (const r of rows) {
    const name = r.figure === 'threshold' ? `${r.scheme} ${r.threshold}` : String(r.scheme);
    process.stdout.write(`${name.padEnd(34)}${String(r.p50ms).padStart(9)}${String(r.p95ms).padStart(9)}${String(r.throughput).padStart(9)}${String(r.concurrency).padStart(6)}${String(r.errors).padStart(8)}\n`);
  }
  const ratio = figures.find((f) => f.figure === 'ratio')!;
  process.stdout.write(`\nratio threshold/baseline: throughput ${ratio.throughput}x, p50 ${ratio.p50}x, p95 ${ratio.p95}x\n`);
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
