import { apiAt } from './http.ts';
export { apiAt, type Api } from './http.ts';
import type { Api } from './http.ts';
import { mkdtempSync, rmSync, cpSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initLocalCluster, installCluster, layout, provisionCoordinator, provisionNode, spawnServer, startLocalCluster, stopChild, type LocalCluster, type RunningProcess, type Service } from '../../src/cli/local-cluster.ts';
import { toHex } from '../../src/common/bytes.ts';
import { jsonLogger } from '../../src/common/logger.ts';
import { once } from '../../src/common/once.ts';
import { SoftwareKeystore } from '../../src/hsm/software-keystore.ts';
import { NodeStore } from '../../src/node/store.ts';
import { NodeService, type NodeFaults } from '../../src/node/service.ts';
import { buildNodeServer } from '../../src/node/server.ts';
import { loadCoordinatorConfig, startCoordinator } from '../../src/coordinator/main.ts';
import type { Envelope } from '../../src/wire/envelope.ts';
import { loadCredentials, type Credentials } from '../../src/cli/credentials.ts';
import { signRequestAs } from '../../src/policy/client-signing.ts';
import type { Approval, Authorization } from '../../src/policy/sign-request.ts';

/**
 * A real local cluster for integration tests: node and coordinator processes on 127.0.0.1 with
 * OS-chosen ports, each node with its own SoftHSM2 token in a temporary home. Stopped by the test.
 */
export type TestCluster = {
  home: string;
  /** The in-process misbehaving node, when the cluster was started with `malicious`. */
  malicious?: MaliciousNode;
  /** Every line the node and coordinator processes wrote to stderr (their logs). */
  logs: string[];
  url: string;
  /** The coordinator API as the demo client: every call carries the demo API token. */
  api: Api;
  /** The demo credentials (identities with private keys, token) written at init. */
  creds: Credentials;
  /** Signs `body` as an initiator (default demo-initiator) and submits it to the key's sign endpoint. */
  sign: (keyId: string, body: SignFields, headers?: Record<string, string>, as?: string) => ReturnType<Api>;
  /** An initiator-signed authorization for `keyId`, as nodes receive it (for direct node calls). */
  authorization: (keyId: string, body: SignFields, approvals?: Approval[], as?: string) => Authorization;
  local: LocalCluster;
  nodeDir: (id: string) => string;
  nodeUrl: (id: string) => string;
  node: (id: string) => RunningProcess;
  killNode: (id: string) => Promise<void>;
  restartNode: (id: string) => Promise<void>;
  /** Stops every process, keeping the home directory for inspection. */
  halt: () => Promise<void>;
  stop: () => Promise<void>;
};


/** What a client puts in a sign request besides who it is (initiator, nonce, time are added). */
export type SignFields = { payload: { type: string; hex: string }; intent?: Record<string, string>; derivationPath?: string };

export type MaliciousNode = { id: string; keystore: SoftwareKeystore; service: NodeService; url: string };

/**
 * Starts a cluster. With `malicious`, the last node is not a child process with a SoftHSM token
 * but an in-process node with a software keystore and the given faults: the misbehaving party
 * whose honest peers must name it. Everything else is real processes.
 */
export async function startTestCluster(opts: { nodes?: number; keepHome?: boolean; malicious?: NodeFaults | ((keystore: SoftwareKeystore) => NodeFaults); relayTap?: (round: string, envs: Envelope[]) => void; offline?: string[] } = {}): Promise<TestCluster> {
  const home = mkdtempSync(join(tmpdir(), 'custos-it-'));
  const logs: string[] = [];
  const n = opts.nodes ?? 3;
  let malicious: MaliciousNode | undefined;
  let closeMalicious = async () => {};
  if (!opts.malicious) {
    await initLocalCluster(home, { nodes: n });
  } else {
    const l = layout(home, n);
    const honest = l.nodes.slice(0, -1);
    const badId = l.nodes[n - 1].id;
    const entries = [];
    for (const nd of honest) entries.push(await provisionNode(nd.dir, nd.id));
    const keystore = new SoftwareKeystore();
    entries.push({ id: badId, identityKey: toHex(keystore.identityPublicKey()), encryptionKey: toHex(keystore.encryptionPublicKey()) });
    const coordinatorKey = await provisionCoordinator(l.coordinatorDir);
    const genesis = installCluster(home, entries, honest.map((x) => x.dir), { clusterName: 'custos-test', coordinatorKey });
    const store = new NodeStore(join(home, `${badId}.db`));
    const log = jsonLogger(badId, (line) => logs.push(line));
    const faults = typeof opts.malicious === 'function' ? opts.malicious(keystore) : opts.malicious;
    const service = new NodeService({ id: badId, genesis, keystore, store, logger: log, faults });
    const app = buildNodeServer(service, log);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address() as { port: number };
    malicious = { id: badId, keystore, service, url: `http://127.0.0.1:${addr.port}` };
    closeMalicious = once(async () => { await app.close(); store.close(); });
  }
  // With a relay tap the coordinator runs in this process (its code is the same) so the test sees
  // every envelope it relays; otherwise it is a child process like the nodes.
  const startCoord = opts.relayTap ? async (dir: string): Promise<Service> => {
    const coord = await startCoordinator(loadCoordinatorConfig(dir, { port: 0 }), { onRelay: opts.relayTap, log: jsonLogger('coordinator', (line) => logs.push(line)) });
    return { id: 'coordinator', url: coord.url, stop: coord.close, onExit: () => {} };
  } : undefined;
  const local = await startLocalCluster(home, { port: 0, onLog: (l) => logs.push(l), external: malicious ? [{ id: malicious.id, url: malicious.url }] : [], startCoordinator: startCoord, offline: opts.offline });
  const procs = new Map(local.nodes.map((n) => [n.id, n]));
  const creds = loadCredentials(home)!;
  const rawApi = apiAt(local.url);
  const api: Api = (method, path, body, headers = {}) => rawApi(method, path, body, { authorization: `Bearer ${creds.token}`, ...headers });
  const signed = (keyId: string, body: SignFields, as = 'demo-initiator') => signRequestAs(creds.identities[as], { keyId, ...body } as never);
  const nodeDir = (id: string) => join(layout(home).home, 'nodes', id);
  const t: TestCluster = {
    malicious,
    home,
    logs,
    url: local.url,
    api,
    creds,
    sign: (keyId, body, headers, as) => api('POST', `/v1/keys/${keyId}/sign`, signed(keyId, body, as), headers),
    authorization: (keyId, body, approvals = [], as) => ({ ...signed(keyId, body, as), approvals }),
    local,
    nodeDir,
    nodeUrl: (id) => (malicious && id === malicious.id ? malicious.url : procs.get(id)!.url),
    node: (id) => procs.get(id)!,
    killNode: async (id) => {
      const p = procs.get(id)!;
      p.child.kill('SIGKILL');
      await stopChild(p.child);
    },
    restartNode: async (id) => {
      const old = procs.get(id)!;
      await stopChild(old.child);
      const port = new URL(old.url).port;
      const p = await spawnServer(id, ['node', '--data-dir', nodeDir(id), '--port', port], {}, (l) => logs.push(l));
      procs.set(id, p);
    },
    halt: async () => {
      await Promise.all([local.coordinator.stop(), ...[...procs.values()].map((p) => stopChild(p.child))]);
      await closeMalicious();
    },
    stop: async () => {
      await t.halt();
      if (!opts.keepHome) rmSync(home, { recursive: true, force: true });
    },
  };
  return t;
}

/** Copies a node's whole data directory (SQLite, token, config) aside, as a backup would. */
export function snapshotDir(src: string): string {
  const dst = mkdtempSync(join(tmpdir(), 'custos-backup-'));
  cpSync(src, dst, { recursive: true });
  return dst;
}

export function restoreDir(backup: string, dst: string): void {
  rmSync(dst, { recursive: true, force: true });
  cpSync(backup, dst, { recursive: true });
}

export function readJson(path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'));
}
