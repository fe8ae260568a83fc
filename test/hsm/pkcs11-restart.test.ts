import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { toHex } from '../../src/common/bytes.ts';
import type { SealContext } from '../../src/hsm/keystore.ts';
import { softHsmFixture } from './softhsm-fixture.ts';

const ctx: SealContext = { keyId: 'key-1', party: 'node-1', purpose: 'key-share' };
const CHILD = join(import.meta.dirname, 'fixtures', 'keystore-child.ts');

function runChild(confPath: string, label: string, pin: string, blob: Uint8Array) {
  const r = spawnSync(process.execPath, [CHILD, confPath, label, toHex(blob)], {
    env: { ...process.env, CUSTOS_TEST_HSM_PIN: pin, SOFTHSM2_CONF: '' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!r.stdout.includes(pin) && !r.stderr.includes(pin));
  return JSON.parse(r.stdout) as { sealingKeyId: string; identity: string; encryption: string; plaintext: string | null; error: string | null };
}

test('a new process on the same data directory finds the same keys and opens old blobs', (t) => {
  const f = softHsmFixture(t, ['node-a', 'node-b']);
  const a = f.open('node-a');
  const secret = randomBytes(32);
  const blob = a.seal(secret, ctx);
  const expected = { sealingKeyId: a.sealingKeyId, identity: toHex(a.identityPublicKey()), encryption: toHex(a.encryptionPublicKey()) };
  a.close();
  f.open('node-b').close();

  const child = runChild(f.confPath, 'node-a', f.pins['node-a'], blob);
  assert.deepEqual(child, { ...expected, plaintext: toHex(secret), error: null });

  // The other token of the same store, in its own process: same blob, refused.
  const other = runChild(f.confPath, 'node-b', f.pins['node-b'], blob);
  assert.notEqual(other.sealingKeyId, expected.sealingKeyId);
  assert.equal(other.plaintext, null);
  assert.equal(other.error, 'hsm.seal_invalid');
});
