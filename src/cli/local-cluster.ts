import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { ConfigError } from '../common/errors.ts';
import { genesisHash, parseGenesis, type Genesis, type GenesisAdmin, type GenesisNode } from '../wire/genesis.ts';
import { createToken, DEMO_WARNING, demoIdentities, signedDemoPolicy } from './demo.ts';
import { loadCredentials, writeCredentials } from './credentials.ts';
import { provisionSoftHsmToken } from '../hsm/softhsm.ts';

/**
 * The embedded local cluster: N signer nodes, each with its own data directory, SQLite file and
 * SoftHSM2 token, plus one coordinator, all on 127.0.0.1. `init` provisions it (the genesis is
 * collected from each node's own token); `start` runs it as child processes.
 */
export const MAIN = resolve(import.meta.dirname, 'main.ts');

export type LocalLayout = { home: string; nodes: { id: string; dir: string }[]; coordinatorDir: string; genesisPath: string };

export function layout(home: string, n = 3): LocalLayout {
  const h = resolve(home);
  return {
    home: h,
    nodes: Array.from({ length: n }, (_, i) => ({ id: `node-${i + 1}`, dir: join(h, 'nodes', `node-${i + 1}`) })),
    coordinatorDir: join(h, 'coordinator'),
    genesisPath: join(h, 'genesis.json'),
  };
}

export function isInitialised(home: string): boolean {
  return existsSync(join(resolve(home), 'genesis.json'));
}

/** A fresh random HSM PIN. */
export function newPin(): string {
  return randomBytes(16).toString('hex');
}

/** Stores a secret line owner-only (write then rename, so a reader never sees half a file). */
export function writeSecretFile(path: string, secret: string): string {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, secret + '\n', { mode: 0o600 });
  renameSync(tmp, path);
  return secret;
}

/** Runs a child custos command and returns its stdout (stderr passes through on failure). */
export function runChild(args: string[], env: NodeJS.ProcessEnv = {}, script = MAIN): Promise<string> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => (code === 0 ? res(out) : rej(new ConfigError(`custos ${args[0]} failed: ${err.trim().split('\n').slice(-3).join(' | ')}`))));
  });
}

/**
 * Provisions one node's data directory: its own SoftHSM2 token (random PINs, the user PIN in a
 * 0600 file), node.json, and its identity and encryption keys, created inside the token by the
 * node's own process. Returns the node's genesis entry.
 */
export async function provisionNode(dir: string, id: string): Promise<GenesisNode> {
  mkdirSync(dir, { recursive: true });
  const pin = writeSecretFile(join(dir, 'hsm-pin'), newPin());
  const soPin = newPin();
  const tok = provisionSoftHsmToken({ dataDir: dir, label: `custos-${id}`, soPin, userPin: pin });
  writeFileSync(join(dir, 'node.json'), JSON.stringify({
    id, host: '127.0.0.1', port: 0, genesisPath: 'genesis.json',
    pkcs11: { module: tok.modulePath, tokenLabel: `custos-${id}`, pinFile: 'hsm-pin', softhsmConf: tok.confPath },
  }, null, 2) + '\n');
  const pub = JSON.parse(await runChild(['node', '--data-dir', dir, '--print-public-keys'])) as { identityKey: string; encryptionKey: string };
  return { id, identityKey: pub.identityKey, encryptionKey: pub.encryptionKey };
}

/**
 * Provisions the coordinator's own SoftHSM2 token (its identity key signs the coordinator's audit
 * log; it holds no other key) and DIR/hsm.json. Returns the identity public key for the genesis.
 */
export async function provisionCoordinator(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const pin = writeSecretFile(join(dir, 'hsm-pin'), newPin());
  const tok = provisionSoftHsmToken({ dataDir: dir, label: 'custos-coordinator', soPin: newPin(), userPin: pin });
  writeFileSync(join(dir, 'hsm.json'), JSON.stringify({ module: tok.modulePath, tokenLabel: 'custos-coordinator', pinFile: 'hsm-pin', softhsmConf: tok.confPath }, null, 2) + '\n');
  const out = await runChild([dir], {}, resolve(import.meta.dirname, 'coordinator-identity-main.ts'));
  return (JSON.parse(out) as { identityKey: string }).identityKey;
}

/** Writes the genesis to the cluster home, every node directory and the coordinator directory. */
export function installGenesis(home: string, genesis: Genesis, nodeDirs: string[]): void {
  const l = layout(home);
  const text = JSON.stringify(genesis, null, 2) + '\n';
  writeFileSync(l.genesisPath, text);
  for (const d of nodeDirs) writeFileSync(join(d, 'genesis.json'), text);
  mkdirSync(l.coordinatorDir, { recursive: true });
  writeFileSync(join(l.coordinatorDir, 'genesis.json'), text);
}

/**
 * Provisions a cluster. With `admins` (the public keys from an admin ceremony) it is a production
 * bootstrap: no policy, so every request is denied until a quorum of those admins signs one.
 * Without, it is the quickstart: demo identities, a demo API token and a starter policy, all in
 * $CUSTOS_HOME/credentials.json (see demo.ts), pushed to the nodes when the cluster starts.
 */
export async function initLocalCluster(home: string, opts: { nodes?: number; log?: (s: string) => void; admins?: { threshold: number; identities: GenesisAdmin[] } } = {}): Promise<Genesis> {
  const n = opts.nodes ?? 3;
  const l = layout(home, n);
  if (isInitialised(home)) throw new ConfigError(`${l.home} is already initialised (genesis.json exists); remove it to start over`);
  const log = opts.log ?? (() => {});
  const entries: GenesisNode[] = [];
  for (const node of l.nodes) {
    const e = await provisionNode(node.dir, node.id);
    entries.push(e);
    log(`  ${node.id}: token custos-${node.id} provisioned, identity key ${e.identityKey.slice(0, 16)}…`);
  }
  const coordinatorKey = await provisionCoordinator(l.coordinatorDir);
  log(`  coordinator: token custos-coordinator provisioned, identity key ${coordinatorKey.slice(0, 16)}…`);
  return installCluster(home, entries, l.nodes.map((x) => x.dir), { admins: opts.admins, log, coordinatorKey });
}

/**
 * Writes the genesis for `entries` everywhere and, for a demo cluster (no `admins`), the demo
 * credentials with a fresh API token.
 */
export function installCluster(home: string, entries: GenesisNode[], nodeDirs: string[], opts: { admins?: { threshold: number; identities: GenesisAdmin[] }; log?: (s: string) => void; clusterName?: string; coordinatorKey?: string } = {}): Genesis {
  const l = layout(home);
  const demo = opts.admins ? undefined : demoIdentities();
  const genesis = parseGenesis({ version: 1, clusterName: opts.clusterName ?? 'custos-local', createdAt: new Date().toISOString(), nodes: entries, thresholds: { min: 2, max: entries.length }, admins: opts.admins ?? demo!.admins, ...(opts.coordinatorKey ? { coordinator: { identityKey: opts.coordinatorKey } } : {}) });
  installGenesis(home, genesis, nodeDirs);
  if (demo) {
    const path = writeCredentials(l.home, { demo: true, warning: DEMO_WARNING, token: createToken(l.coordinatorDir, 'demo'), identities: demo.secrets, defaultInitiator: 'demo-initiator' });
    opts.log?.(`  demo identities, API token and starter policy: ${path} (DEMO ONLY)`);
  }
  return genesis;
}

export type RunningProcess = { id: string; url: string; child: ChildProcess; extra?: Record<string, unknown> };

/** Spawns a custos child that prints one JSON line {"listening": url} on stdout once it serves. */
export function spawnServer(id: string, args: string[], env: NodeJS.ProcessEnv = {}, onLog?: (line: string) => void, script = MAIN, scriptArgs: string[] = []): Promise<RunningProcess> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', script, ...args, ...scriptArgs], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let done = false;
    const errLines: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => { errLines.push(line); if (errLines.length > 20) errLines.shift(); onLog?.(line); });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (done) return;
      try {
        const m = JSON.parse(line) as { listening?: string };
        if (m.listening) { done = true; res({ id, url: m.listening, child, extra: m }); }
      } catch { /* not our line */ }
    });
    child.on('exit', (code) => {
      if (!done) { done = true; rej(new ConfigError(`${id} exited with code ${code} before listening: ${errLines.slice(-3).join(' | ')}`)); }
    });
  });
}

/** A running server of the cluster, whether a child process or (in tests) in-process. */
export type Service = { id: string; url: string; stop: () => Promise<void>; onExit: (fn: (code: number | null) => void) => void };

export function serviceOf(p: RunningProcess): Service {
  return { id: p.id, url: p.url, stop: () => stopChild(p.child), onExit: (fn) => { p.child.once('exit', fn); } };
}

export type LocalCluster = { url: string; nodes: RunningProcess[]; coordinator: Service; stop: () => Promise<void> };

export async function startLocalCluster(home: string, opts: { port?: number; onLog?: (line: string) => void; coordinatorArgs?: string[]; external?: { id: string; url: string }[]; pool?: { low?: number; batch?: number; intervalMs?: number }; startCoordinator?: (dir: string) => Promise<Service>; offline?: string[] } = {}): Promise<LocalCluster> {
  const l = layout(home);
  const genesis = parseGenesis(JSON.parse(readFileSync(l.genesisPath, 'utf8')));
  const external = opts.external ?? [];
  // Offline nodes are not started: they are reached by bundles (custos offline / custos airgap).
  const offline = opts.offline ?? [];
  const nodeDirs = genesis.nodes.filter((n) => !external.some((e) => e.id === n.id) && !offline.includes(n.id)).map((n) => ({ id: n.id, dir: join(l.home, 'nodes', n.id) }));
  const nodes = await Promise.all(nodeDirs.map((n) => spawnServer(n.id, ['node', '--data-dir', n.dir], {}, opts.onLog)));
  writeFileSync(join(l.coordinatorDir, 'coordinator.json'), JSON.stringify({ host: '127.0.0.1', port: opts.port ?? 8700, genesisPath: 'genesis.json', nodes: [...nodes.map((n) => ({ id: n.id, url: n.url })), ...external, ...offline.map((id) => ({ id, offline: true }))], ...(opts.pool ? { pool: opts.pool } : {}) }, null, 2) + '\n');
  let coordinator: Service;
  try {
    coordinator = opts.startCoordinator
      ? await opts.startCoordinator(l.coordinatorDir)
      : serviceOf(await spawnServer('coordinator', ['coordinator', '--data-dir', l.coordinatorDir, ...(opts.port !== undefined ? ['--port', String(opts.port)] : []), ...(opts.coordinatorArgs ?? [])], {}, opts.onLog));
  } catch (e) {
    for (const n of nodes) n.child.kill('SIGTERM');
    throw e;
  }
  const stop = async () => {
    await Promise.all([coordinator.stop(), ...nodes.map((p) => stopChild(p.child))]);
  };
  await pushDemoPolicy(l.home, genesis, coordinator.url);
  return { url: coordinator.url, nodes, coordinator, stop };
}

/** On a demo cluster with no policy yet, activates the starter policy (signed by the demo admins). */
async function pushDemoPolicy(home: string, genesis: Genesis, url: string): Promise<void> {
  const creds = loadCredentials(home);
  if (!creds?.demo || !creds.token) return;
  const headers = { authorization: `Bearer ${creds.token}`, 'content-type': 'application/json' };
  const cur = await fetch(`${url}/v1/policy`, { headers }).then((r) => r.json() as Promise<{ version: number | null }>);
  if (cur.version !== null) return;
  const res = await fetch(`${url}/v1/policy`, { method: 'POST', headers, body: JSON.stringify(signedDemoPolicy(genesisHash(genesis), creds)) });
  if (!res.ok) throw new ConfigError(`the demo policy was refused: ${(await res.text()).slice(0, 300)}`);
}

export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) return res();
    child.once('exit', () => res());
    child.kill('SIGTERM');
    setTimeout(() => { if (child.exitCode === null) child.kill('SIGKILL'); }, 5000).unref();
  });
}
