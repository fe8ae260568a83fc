#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
import { checkNodeVersion } from '../common/runtime.ts';
checkNodeVersion();

const { runCli } = await import('./commands.ts');
process.exitCode = await runCli(process.argv.slice(2));
