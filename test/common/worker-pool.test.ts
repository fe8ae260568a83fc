import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WorkerPool } from '../../src/common/worker-pool.ts';

/** A throwaway worker entry: echoes, throws a CustosError, or dies, on request. */
function entry(): URL {
  const dir = mkdtempSync(join(tmpdir(), 'custos-worker-'));
  const file = join(dir, 'w.ts');
  const errors = pathToFileURL(join(import.meta.dirname, '../../src/common/errors.ts')).href;
  const pool = pathToFileURL(join(import.meta.dirname, '../../src/common/worker-pool.ts')).href;
  writeFileSync(file, `import { parentPort } from 'node:worker_threads';
import { ProtocolAbort } from '${errors}';
import { failureOf } from '${pool}';
parentPort.on('message', (m) => {
  if (m.task === 'die') process.exit(3);
  try {
    if (m.task === 'abort') throw new ProtocolAbort('x.bad', 'node-2', 'node-2 cheated');
    parentPort.postMessage({ id: m.id, ok: true, value: m.args });
  } catch (e) { parentPort.postMessage({ id: m.id, ok: false, error: failureOf(e) }); }
});`);
  return pathToFileURL(file);
}

test('a worker pool runs tasks, brings back typed aborts, and survives a dead worker', async () => {
  const pool = new WorkerPool(entry(), 1);
  try {
    assert.deepEqual(await pool.run('echo', { a: 1, b: new Uint8Array([1, 2]) }), { a: 1, b: new Uint8Array([1, 2]) });
    await assert.rejects(pool.run('abort', {}), (e: any) => e.code === 'x.bad' && e.culprit === 'node-2' && e.name === 'ProtocolAbort');
    await assert.rejects(pool.run('die', {}), (e: any) => e.code === 'worker.crashed');
    // The dead worker was replaced: the next task runs.
    assert.deepEqual(await pool.run('echo', 'again'), 'again');
  } finally {
    await pool.close();
  }
});
