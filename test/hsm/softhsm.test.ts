import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { HsmError } from '../../src/common/errors.ts';
import {
  findSoftHsmModule, initSoftHsmToken, listSoftHsmTokens, provisionSoftHsmToken, SOFTHSM_MODULE_CANDIDATES,
  softHsmPaths, softHsmTokenExists, useSoftHsmConf, writeSoftHsmConf,
} from '../../src/hsm/softhsm.ts';
import { softHsmFixture } from './softhsm-fixture.ts';

function tempDir(t: TestContext): string {
  const d = mkdtempSync(join(tmpdir(), 'custos-softhsm-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function hsmError(code: string) {
  return (e: unknown) => e instanceof HsmError && e.code === code;
}

test('findSoftHsmModule: first installed candidate, or the override, which must exist', () => {
  const found = findSoftHsmModule();
  assert.ok(SOFTHSM_MODULE_CANDIDATES.includes(found));
  assert.ok(existsSync(found));
  assert.equal(findSoftHsmModule(SOFTHSM_MODULE_CANDIDATES[1]), SOFTHSM_MODULE_CANDIDATES[1]);
  assert.throws(() => findSoftHsmModule('/nonexistent/libsofthsm2.so'), hsmError('hsm.module_missing'));
});

test('the conf lives in <dataDir>/hsm, points at <dataDir>/hsm/tokens, owner-only', (t) => {
  const dir = tempDir(t);
  const paths = writeSoftHsmConf(dir);
  assert.deepEqual(paths, softHsmPaths(dir));
  assert.equal(paths.confPath, join(dir, 'hsm', 'softhsm2.conf'));
  const conf = readFileSync(paths.confPath, 'utf8');
  assert.match(conf, new RegExp(`^directories\\.tokendir = ${join(dir, 'hsm', 'tokens')}$`, 'm'));
  assert.match(conf, /^objectstore\.backend = file$/m);
  assert.match(conf, /^log\.level = ERROR$/m);
  assert.equal(statSync(paths.confPath).mode & 0o777, 0o600);
  assert.equal(statSync(paths.tokenDir).mode & 0o777, 0o700);
  assert.equal(statSync(paths.hsmDir).mode & 0o777, 0o700);
});

test('a token exists once initialized; a second one with the same label is refused', (t) => {
  const dir = tempDir(t);
  assert.equal(softHsmTokenExists(dir, 'node-1'), false);
  initSoftHsmToken({ dataDir: dir, label: 'node-1', soPin: 'so-pin-1234', userPin: 'user-pin-1234' });
  assert.equal(softHsmTokenExists(dir, 'node-1'), true);
  assert.equal(softHsmTokenExists(dir, 'node-2'), false);
  assert.throws(() => initSoftHsmToken({ dataDir: dir, label: 'node-1', soPin: 'so-pin-1234', userPin: 'user-pin-1234' }), hsmError('hsm.token_exists'));
  initSoftHsmToken({ dataDir: dir, label: 'node-2', soPin: 'so-pin-1234', userPin: 'user-pin-1234' });
  assert.deepEqual(listSoftHsmTokens(dir).sort(), ['node-1', 'node-2']);
});

test('provisionSoftHsmToken is idempotent and does not touch this process\'s SOFTHSM2_CONF', (t) => {
  const dir = tempDir(t);
  const before = process.env.SOFTHSM2_CONF;
  const first = provisionSoftHsmToken({ dataDir: dir, label: 'node-1', soPin: 'so-pin-1234', userPin: 'user-pin-1234' });
  assert.equal(first.created, true);
  assert.equal(first.confPath, join(dir, 'hsm', 'softhsm2.conf'));
  assert.ok(existsSync(first.modulePath));
  const second = provisionSoftHsmToken({ dataDir: dir, label: 'node-1', soPin: 'so-pin-1234', userPin: 'user-pin-1234' });
  assert.equal(second.created, false);
  assert.deepEqual(listSoftHsmTokens(dir), ['node-1']);
  assert.equal(process.env.SOFTHSM2_CONF, before);
});

test('bad labels and PINs are refused before softhsm2-util runs, without echoing the PIN', (t) => {
  const dir = tempDir(t);
  for (const label of ['', 'has space', 'x'.repeat(33), '-leading-dash']) {
    assert.throws(() => initSoftHsmToken({ dataDir: dir, label, soPin: 'so-pin-1234', userPin: 'user-pin-1234' }), hsmError('hsm.config'));
  }
  let err: unknown;
  try { initSoftHsmToken({ dataDir: dir, label: 'node-1', soPin: 'so-pin-1234', userPin: 'abc' }); } catch (e) { err = e; }
  assert.ok(err instanceof HsmError && err.code === 'hsm.config');
  assert.ok(!err.message.includes('abc') && !err.message.includes('so-pin-1234'));
  assert.deepEqual(listSoftHsmTokens(dir), []);
});

test('useSoftHsmConf refuses to switch while a module is initialized under another conf', (t) => {
  const f = softHsmFixture(t, ['node-a']);
  const ks = f.open('node-a');
  const other = join(tempDir(t), 'softhsm2.conf');
  assert.throws(() => useSoftHsmConf(other), hsmError('hsm.conf_conflict'));
  useSoftHsmConf(f.confPath);
  ks.close();
  useSoftHsmConf(other);
  assert.equal(process.env.SOFTHSM2_CONF, other);
});
