import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { MAIN } from '../../src/cli/local-cluster.ts';

/**
 * `custos airgap simulate` runs the real protocol in process and reports what crosses: fixed round
 * trips for staging (3) and signing (1) whatever the batch, the baseline's 4 per transaction, and
 * minutes that follow the published cost model from the measured bytes.
 */
test('simulate: crossings, bytes, frames and minutes, batched against one full run per transaction', () => {
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, 'airgap', 'simulate', '--batch', '4', '--baseline-sample', '2', '--json'], { encoding: 'utf8', timeout: 10 * 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const figures = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const by = (f: string) => figures.filter((x) => x.figure === f);
  const [dkg] = by('key_generation');
  const [staging] = by('staging');
  const [sign] = by('sign_batch');
  const [baseline] = by('baseline');
  assert.equal(dkg.roundTrips, 4);
  assert.equal(staging.roundTrips, 3);
  assert.equal(sign.roundTrips, 1);
  assert.equal(baseline.roundTrips, 4 * 4, 'presigning (3) and signing (1) per transaction');
  for (const f of [dkg, staging, sign, baseline]) assert.equal(f.crossings, 2 * f.roundTrips);
  assert.equal(sign.transport, 'qr');
  assert.equal(staging.transport, 'file');
  assert.equal(staging.minutes, 3 * 2 * 3, 'file: 3 minutes per crossing');
  assert.ok(sign.frames >= Math.ceil(sign.bytes / 400) && sign.frames <= Math.ceil(sign.bytes / 400) + 2, 'one frame per 400 bytes, per crossing');
  assert.equal(sign.minutes, Math.round(((sign.frames / 5 + 2 * 60) / 60) * 100) / 100);
  assert.ok(staging.bytes > 4 * 100_000, 'DKLs23 presigning moves about 135 KB per presignature');
  const reductions = by('overhead_reduction');
  assert.equal(reductions.length, 2);
  for (const x of reductions) assert.ok(x.reductionPercent > 0 && x.batchedSecondsPerTx < x.baselineSecondsPerTx, JSON.stringify(x));
});
