import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HsmError } from '../common/errors.ts';
import { modulesInUse } from './pkcs11-module.ts';

/**
 * Provisioning of a node's own SoftHSM2 token inside the node's data directory:
 *   <dataDir>/hsm/softhsm2.conf   (tokendir = <dataDir>/hsm/tokens, file backend)
 *   <dataDir>/hsm/tokens/…        (the token; back it up with the rest of the data directory)
 *
 * ONE NODE PROCESS = ONE TOKEN DIRECTORY. SoftHSM reads SOFTHSM2_CONF from the environment when
 * C_Initialize runs, and the module is initialized once per process, so a process sees exactly
 * one softhsm2.conf: call useSoftHsmConf(confPath) before opening the keystore, and run each node in its
 * own process. (Several tokens in one tokendir are visible together; tests use that.)
 */

export const SOFTHSM_CONF_ENV = 'SOFTHSM2_CONF';

/** Where distributions put libsofthsm2.so, searched in order. */
export const SOFTHSM_MODULE_CANDIDATES: readonly string[] = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
];

export type SoftHsmPaths = { hsmDir: string; confPath: string; tokenDir: string };

export type SoftHsmTokenSpec = {
  dataDir: string;
  label: string;
  soPin: string;
  userPin: string;
  /** softhsm2-util executable; default: found on PATH. */
  utilPath?: string;
};

/** The SoftHSM module: `override` if given (which must exist), else the first candidate present. */
export function findSoftHsmModule(override?: string): string {
  if (override !== undefined) {
    if (!existsSync(override)) throw new HsmError('hsm.module_missing', `PKCS#11 module ${override} does not exist`);
    return override;
  }
  const found = SOFTHSM_MODULE_CANDIDATES.find((p) => existsSync(p));
  if (found === undefined) throw new HsmError('hsm.module_missing', `SoftHSM2 not found (looked in ${SOFTHSM_MODULE_CANDIDATES.join(', ')}); install softhsm2 or configure the module path`);
  return found;
}

export function softHsmPaths(dataDir: string): SoftHsmPaths {
  const hsmDir = join(resolve(dataDir), 'hsm');
  return { hsmDir, confPath: join(hsmDir, 'softhsm2.conf'), tokenDir: join(hsmDir, 'tokens') };
}

/** Writes <dataDir>/hsm/softhsm2.conf (owner-only) and creates the token directory. Idempotent. */
export function writeSoftHsmConf(dataDir: string): SoftHsmPaths {
  const paths = softHsmPaths(dataDir);
  if (/[\r\n#]/.test(paths.tokenDir)) throw new HsmError('hsm.config', `data directory path cannot be written into softhsm2.conf: ${paths.hsmDir}`);
  mkdirSync(paths.tokenDir, { recursive: true, mode: 0o700 });
  chmodSync(paths.hsmDir, 0o700);
  chmodSync(paths.tokenDir, 0o700);
  const conf = [
    '# Written by custos: this node\'s own SoftHSM2 token store.',
    `directories.tokendir = ${paths.tokenDir}`,
    'objectstore.backend = file',
    'log.level = ERROR',
    'slots.removable = false',
    '',
  ].join('\n');
  writeFileSync(paths.confPath, conf, { mode: 0o600 });
  return paths;
}

/**
 * Points this process at the node's softhsm2.conf. Must run before the first keystore opens;
 * refuses to switch once a PKCS#11 module is initialized under another conf (it would be ignored).
 */
export function useSoftHsmConf(confPath: string): void {
  const current = process.env[SOFTHSM_CONF_ENV];
  if (current === confPath) return;
  if (modulesInUse() > 0) {
    throw new HsmError('hsm.conf_conflict', `a PKCS#11 module is already initialized with ${SOFTHSM_CONF_ENV}=${current ?? '(unset)'}; one process serves one token directory`);
  }
  process.env[SOFTHSM_CONF_ENV] = confPath;
}

/** Labels of the initialized tokens in the data directory's token store. */
export function listSoftHsmTokens(dataDir: string, utilPath = 'softhsm2-util'): string[] {
  const { confPath, tokenDir } = softHsmPaths(dataDir);
  if (!existsSync(confPath) || !existsSync(tokenDir)) return [];
  const out = runUtil(utilPath, ['--show-slots'], confPath, [], 'list SoftHSM tokens');
  const labels: string[] = [];
  let initialized = false;
  for (const line of out.split('\n')) {
    const init = /^\s*Initialized:\s*(\S+)/.exec(line);
    if (init) initialized = init[1] === 'yes';
    // softhsm2-util prints the 32-byte blank-padded label after 'Label:' and a run of spaces.
    const m = /^\s*Label:\s*(.*?)\s*$/.exec(line);
    if (m && initialized && m[1] !== '') labels.push(m[1]);
  }
  return labels;
}

export function softHsmTokenExists(dataDir: string, label: string, utilPath?: string): boolean {
  checkLabel(label);
  return listSoftHsmTokens(dataDir, utilPath).includes(label);
}

/** Initializes a new token in the first free slot. Fails if a token with this label exists. */
export function initSoftHsmToken(spec: SoftHsmTokenSpec): void {
  checkLabel(spec.label);
  checkPin(spec.soPin, 'SO PIN');
  checkPin(spec.userPin, 'user PIN');
  const utilPath = spec.utilPath ?? 'softhsm2-util';
  if (softHsmTokenExists(spec.dataDir, spec.label, utilPath)) throw new HsmError('hsm.token_exists', `a SoftHSM token labelled "${spec.label}" already exists in ${softHsmPaths(spec.dataDir).tokenDir}`);
  const { confPath } = writeSoftHsmConf(spec.dataDir);
  // softhsm2-util takes PINs only in argv (or interactively); they are never echoed or logged here.
  runUtil(utilPath, ['--init-token', '--free', '--label', spec.label, '--so-pin', spec.soPin, '--pin', spec.userPin], confPath, [spec.soPin, spec.userPin], `initialize SoftHSM token "${spec.label}"`);
}

/**
 * Idempotent provisioning of a node's data directory: writes the conf and creates the token when
 * it is missing (`created` says which). Does not touch this process's environment: the process
 * that opens the token calls useSoftHsmConf(confPath) (or sets SOFTHSM2_CONF) first.
 */
export function provisionSoftHsmToken(spec: SoftHsmTokenSpec & { modulePath?: string }): SoftHsmPaths & { modulePath: string; created: boolean } {
  const modulePath = findSoftHsmModule(spec.modulePath);
  const paths = writeSoftHsmConf(spec.dataDir);
  const created = !softHsmTokenExists(spec.dataDir, spec.label, spec.utilPath);
  if (created) initSoftHsmToken(spec);
  return { ...paths, modulePath, created };
}

function runUtil(utilPath: string, args: string[], confPath: string, secrets: string[], what: string): string {
  const r = spawnSync(utilPath, args, {
    env: { ...process.env, [SOFTHSM_CONF_ENV]: confPath },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code ?? 'error';
    throw new HsmError('hsm.softhsm_util_failed', `cannot ${what}: running ${utilPath} failed (${code})`);
  }
  if (r.status !== 0) {
    throw new HsmError('hsm.softhsm_util_failed', `cannot ${what}: ${utilPath} exited with ${r.status ?? r.signal}: ${redact(`${r.stderr}${r.stdout}`.trim(), secrets).slice(0, 300)}`);
  }
  return r.stdout;
}

function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s !== '') out = out.split(s).join('<redacted>');
  return out;
}

function checkLabel(label: string): void {
  // PKCS#11 labels are 32 blank-padded bytes; a restricted alphabet keeps them unambiguous in softhsm2-util output.
  if (typeof label !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/.test(label)) {
    throw new HsmError('hsm.config', `token label ${JSON.stringify(label)} must be 1-32 characters of A-Z a-z 0-9 . _ - starting with a letter or digit`);
  }
}

function checkPin(pin: string, what: string): void {
  // SoftHSM's limits (MIN_PIN_LEN 4, MAX_PIN_LEN 255); the PIN itself is never reported.
  if (typeof pin !== 'string' || pin.length < 4 || pin.length > 255 || /[\0\r\n]/.test(pin)) {
    throw new HsmError('hsm.config', `the ${what} must be 4 to 255 characters on one line`);
  }
}
