/**
 * `npm test`: type-check the whole tree, then run every test file with node's test runner, using
 * this same Node.js 24 binary for both.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkNodeVersion } from '../src/common/runtime.ts';

checkNodeVersion();
const root = resolve(import.meta.dirname, '..');

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
if (filter.length === 0) {
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit', cwd: root });
  if (tsc.status !== 0) {
    console.error('type-check failed');
    process.exit(tsc.status ?? 1);
  }
}
const files = filter.length ? filter.map((f) => resolve(f)) : testFiles(join(root, 'test'));
const run = spawnSync(process.execPath, ['--test', '--test-reporter=spec', '--test-timeout=300000', '--disable-warning=ExperimentalWarning', ...files], { stdio: 'inherit', cwd: root, env: { ...process.env, CUSTOS_TEST: '1' } });
process.exit(run.status ?? 1);
