import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { CustosError } from '../../src/common/errors.ts';
import { jsonLogger } from '../../src/common/logger.ts';
import { startLegacySigner, type LegacyScheme, type RunningLegacySigner } from '../../src/cli/legacy-signer.ts';
import { apiAt } from '../support/http.ts';

/** What the legacy signer's tests share: a temporary data directory, HTTP calls, the main as a child. */

export const MAIN = resolve(import.meta.dirname, '../../src/cli/legacy-signer-main.ts');
export const quiet = jsonLogger('legacy-signer-test', () => {});

export type Res = { status: number; json: any; contentType: string };

export function call(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
  return apiAt(url)(method, path, body, headers);
}

/**
 * A temporary data directory and the signers started on it; one after-hook stops them before the
 * directory goes (SoftHSM has its token files open).
 */
export function fixture(t: TestContext): { dir: string; start: (opts?: { pin?: string; scheme?: LegacyScheme }) => Promise<RunningLegacySigner> } {
  const dir = mkdtempSync(join(tmpdir(), 'custos-legacy-'));
  const running: RunningLegacySigner[] = [];
  t.after(async () => {
    for (const s of running) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    async start(opts = {}) {
      const s = await startLegacySigner({ dataDir: dir, port: 0, pin: opts.pin, scheme: opts.scheme, log: quiet });
      running.push(s);
      return s;
    },
  };
}

export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'custos-legacy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function assertProblem(r: Res, status: number, code: string): void {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.match(r.contentType, /^application\/problem\+json/);
  assert.equal(r.json.code, code, JSON.stringify(r.json));
  assert.equal(r.json.status, status);
  assert.equal(typeof r.json.detail, 'string');
}

export type ChildExit = { code: number | null; signal: string | null; stdout: string; stderr: string };
export type Child = { url: string; line: any; exit: Promise<ChildExit>; kill: (s: NodeJS.Signals) => void };

/** Spawns the main and resolves with its first stdout line, parsed, once it serves. */
export function spawnMain(args: string[]): Promise<Child> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SOFTHSM2_CONF: '' } });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const exit = new Promise<ChildExit>((r) => child.on('exit', (code, signal) => r({ code, signal, stdout, stderr })));
    let served = false;
    createInterface({ input: child.stdout }).on('line', (l) => {
      stdout += l + '\n';
      if (served) return;
      served = true;
      try {
        const line = JSON.parse(l);
        res({ url: line.listening, line, exit, kill: (s) => child.kill(s) });
      } catch (e) {
        child.kill('SIGKILL');
        rej(e);
      }
    });
    void exit.then((r) => { if (!served) rej(new CustosError('test.child_exit', `child exited ${r.code}: ${r.stderr.slice(-500)}`)); });
  });
}

/** Runs the main with arguments it must refuse: its exit code and stderr. */
export async function runRefused(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  return { code, stderr };
}
