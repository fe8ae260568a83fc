/**
 * `npm run bench`: threshold signing through the coordinator's REST API beside single-key
 * baselines with their keys in SoftHSM behind the same REST shape, measured in the same run with
 * the same harness, all with production durability (SQLite WAL, synchronous=FULL, every request
 * recorded before and after signing). Two suites, each on a fresh 3-node cluster: FROST 2-of-3
 * against Ed25519 (bench/frost.ts) and DKLs23 ECDSA 2-of-3 against secp256k1 ECDSA
 * (bench/ecdsa.ts). Prints tables, or with --json one JSON object per figure.
 *   --requests N (default 400)  --concurrency C (default 8)
 *   --scheme S  one suite only: frost-ed25519 | frost-secp256k1 | bip340 | ecdsa-secp256k1
 */
import { parseArgs } from 'node:util';
import { checkNodeVersion } from '../src/common/runtime.ts';

checkNodeVersion();

const { values } = parseArgs({ options: { json: { type: 'boolean' }, requests: { type: 'string' }, concurrency: { type: 'string' }, scheme: { type: 'string' }, keep: { type: 'boolean' } } });
const requests = Number(values.requests ?? 400);
const concurrency = Number(values.concurrency ?? 8);
const log = (s: string) => { if (!values.json) process.stderr.write(s + '\n'); };

// Each suite provisions its own fresh cluster; by default both run, one after the other.
for (const suite of values.scheme ? [values.scheme] : ['frost-ed25519', 'ecdsa-secp256k1']) {
  if (suite === 'ecdsa-secp256k1') {
    const { benchEcdsa } = await import('./ecdsa.ts');
    emit(suite, await benchEcdsa({ requests, concurrency, keep: values.keep ?? false, log }), printEcdsa);
  } else {
    const { benchFrost, printFrost } = await import('./frost.ts');
    emit(suite, await benchFrost({ scheme: suite, requests, concurrency, keep: values.keep ?? false, log }), printFrost);
  }
}

function emit(suite: string, figures: Record<string, unknown>[], print: (f: Record<string, unknown>[]) => void): void {
  if (values.json) for (const f of figures) process.stdout.write(JSON.stringify({ suite, ...f }) + '\n');
  else print(figures);
}

function printEcdsa(figures: Record<string, unknown>[]): void {
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

