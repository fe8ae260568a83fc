import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HsmError } from '../../src/common/errors.ts';
import { resolvePin } from '../../src/hsm/pkcs11-keystore.ts';

function unavailable(mustMention: string) {
  return (e: unknown) => e instanceof HsmError && e.code === 'hsm.pin_unavailable' && e.message.includes(mustMention);
}

test('PIN from an environment variable', () => {
  assert.equal(resolvePin({ pinEnv: 'HSM_PIN' }, { HSM_PIN: ' 1234 ' }), ' 1234 ');
  assert.throws(() => resolvePin({ pinEnv: 'HSM_PIN' }, {}), unavailable('HSM_PIN'));
  assert.throws(() => resolvePin({ pinEnv: 'HSM_PIN' }, { HSM_PIN: '' }), unavailable('empty'));
});

test('PIN from a file: one trailing newline dropped, nothing else', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'custos-pin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'pin');
  writeFileSync(file, 'secret-pin-42\n');
  assert.equal(resolvePin({ pinFile: file }), 'secret-pin-42');
  writeFileSync(file, 'secret-pin-42');
  assert.equal(resolvePin({ pinFile: file }), 'secret-pin-42');
  writeFileSync(file, '\n');
  assert.throws(() => resolvePin({ pinFile: file }), unavailable('empty'));
  writeFileSync(file, 'secret-pin-42\nsecond line\n');
  let err: unknown;
  try { resolvePin({ pinFile: file }); } catch (e) { err = e; }
  assert.ok(unavailable('more than one line')(err));
  assert.ok(!(err as Error).message.includes('secret-pin-42'));
  assert.throws(() => resolvePin({ pinFile: join(dir, 'missing') }), unavailable('ENOENT'));
});

test('exactly one source', () => {
  assert.throws(() => resolvePin({}), unavailable('no HSM PIN source'));
  assert.throws(() => resolvePin({ pinEnv: 'A', pinFile: '/x' }, { A: '1234' }), unavailable('not both'));
});
