import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../common/errors.ts';
import { jsonLogger, type Logger } from '../common/logger.ts';
import { listenUrl } from '../common/http.ts';
import { once } from '../common/once.ts';
import { parseGenesis, type Genesis } from '../wire/genesis.ts';
import type { Envelope } from '../wire/envelope.ts';
import { CoordinatorStore } from './store.ts';
import { Cluster } from './cluster.ts';
import { SigningService } from './signing.ts';
import { EcdsaSigning } from './ecdsa-signing.ts';
import { PoolKeeper } from './pool-keeper.ts';
import { Metrics } from './metrics.ts';
import { buildApi } from './api.ts';
import type { NodeEndpoint } from './node-client.ts';
import { RequestService } from './requests.ts';
import { Airgap } from './airgap.ts';
import { WebhookStore } from './webhook-store.ts';
import { WebhookDispatcher } from './webhooks.ts';
import { ApiTokens } from './api-tokens.ts';
import { AuditLog } from '../wire/audit-log.ts';
import { openConfiguredKeystore, type Pkcs11Config } from '../hsm/configured-keystore.ts';
import { toHex } from '../common/bytes.ts';

/** The coordinator's configuration (`coordinator.json` in its data directory). */
export type CoordinatorConfig = {
  dataDir: string;
  host: string;
  port: number;
  genesisPath: string;
  nodes: NodeEndpoint[];
  pool: { low: number; batch: number; intervalMs: number };
  bodyLimit: number;
  /** The coordinator's own HSM token (its identity key signs its audit log); from hsm.json. */
  pkcs11?: Pkcs11Config;
};

/** The coordinator's HSM section, kept in DIR/hsm.json (paths relative to DIR). */
export function loadCoordinatorHsm(dataDir: string): Pkcs11Config | undefined {
  const path = join(resolve(dataDir), 'hsm.json');
  if (!existsSync(path)) return undefined;
  let c: Pkcs11Config;
  try {
    c = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof c?.tokenLabel !== 'string') throw new ConfigError(`${path} needs "tokenLabel"`);
  const rel = (p: string | undefined) => (p === undefined ? undefined : resolve(dataDir, p));
  return { ...c, pinFile: rel(c.pinFile), softhsmConf: rel(c.softhsmConf) };
}

export function loadCoordinatorConfig(dataDir: string, overrides: Partial<CoordinatorConfig> = {}): CoordinatorConfig {
  const dir = resolve(dataDir);
  let raw: Partial<CoordinatorConfig>;
  try {
    raw = JSON.parse(readFileSync(join(dir, 'coordinator.json'), 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read ${join(dir, 'coordinator.json')}: ${(e as Error).message.split('\n')[0]}`);
  }
  const c: CoordinatorConfig = {
    dataDir: dir,
    host: raw.host ?? '127.0.0.1',
    port: raw.port ?? 8700,
    genesisPath: resolve(dir, raw.genesisPath ?? 'genesis.json'),
    nodes: raw.nodes ?? [],
    pool: { low: 8, batch: 16, intervalMs: 500, ...(raw.pool ?? {}) },
    bodyLimit: raw.bodyLimit ?? 8 * 1024 * 1024,
    pkcs11: loadCoordinatorHsm(dir),
    ...overrides,
  };
  if (!Array.isArray(c.nodes) || c.nodes.some((n) => typeof n?.id !== 'string' || (n.offline === true ? n.url !== undefined : typeof n?.url !== 'string'))) throw new ConfigError('coordinator.json "nodes" must be a list of {id, url} or, for an offline node, {id, "offline": true}');
  return c;
}

export type RunningCoordinator = { url: string; close: () => Promise<void> };

export async function startCoordinator(cfg: CoordinatorConfig, opts: { log?: Logger; onRelay?: (round: string, envs: Envelope[]) => void } = {}): Promise<RunningCoordinator> {
  const log = opts.log ?? jsonLogger('coordinator');
  const genesis: Genesis = parseGenesis(JSON.parse(readFileSync(cfg.genesisPath, 'utf8')));
  const store = new CoordinatorStore(join(cfg.dataDir, 'coordinator.db'));
  // The coordinator's audit log, signed by its own HSM identity key (the only key it holds).
  const ks = cfg.pkcs11 ? openConfiguredKeystore(cfg.pkcs11) : undefined;
  if (ks && genesis.coordinator && toHex(ks.identityPublicKey()) !== genesis.coordinator.identityKey) {
    ks.close();
    throw new ConfigError('the identity key in the coordinator\'s HSM token is not the one the genesis lists for the coordinator');
  }
  if (!ks) log.warn('audit.no_hsm', { hint: 'no hsm.json in the coordinator directory: the coordinator keeps no audit log of its own' });
  const audit = ks ? new AuditLog(store, 'coordinator', (m) => ks.signIdentity(m)) : undefined;
  const interrupted = store.failInterrupted();
  if (interrupted > 0) log.warn('requests.interrupted', { count: interrupted });
  const cluster = new Cluster(genesis, cfg.nodes);
  // Offline nodes are reached by bundles signed with the coordinator's identity key.
  const airgap = new Airgap({ cluster, genesis, store, sign: ks && ((m) => ks.signIdentity(m)), log });
  const metrics = new Metrics();
  const poolHits = metrics.counter('custos_nonce_pool_total', 'Sign calls served from the nonce pool (result="hit") or needing fresh nonces (result="miss")');
  const signing = new SigningService(store, cluster, log, (hit) => poolHits({ result: hit ? 'hit' : 'miss' }));
  const culprits = metrics.counter('custos_culprits_total', 'Parties named as culprits by signing sessions, by node and error code');
  signing.onCulprit = (node, code) => culprits({ node, code });
  const presignHits = metrics.counter('custos_presign_pool_total', 'ECDSA sign calls served from a pooled presignature (result="hit") or presigning on demand (result="miss"), by quorum');
  const ecdsa = new EcdsaSigning(store, cluster, log, (hit, quorum) => presignHits({ result: hit ? 'hit' : 'miss', quorum }));
  ecdsa.onCulprit = (node, code) => culprits({ node, code });
  ecdsa.onRelay = opts.onRelay;
  const keeper = new PoolKeeper(store, cluster, signing, ecdsa, log, cfg.pool);
  const webhookStore = new WebhookStore(store.db);
  const webhooks = new WebhookDispatcher({ store: webhookStore, log });
  // A webhook that cannot be recorded must not turn a produced signature into an error.
  const emit = (event: string, data: Record<string, unknown>) => {
    try { webhooks.emit(event, data); } catch (e) { log.error('webhook.emit_failed', { eventName: event, error: (e as Error).message?.slice(0, 200) }); }
  };
  const requests = new RequestService({ store, cluster, signing, ecdsa, log, emit, audit, airgap });
  airgap.policies = (after) => requests.requests.policiesAfter(after);
  const tokens = new ApiTokens(store.db);
  const app = buildApi({ genesis, store, cluster, signing, ecdsa, requests, airgap, metrics, log, audit, bodyLimit: cfg.bodyLimit, onRelay: opts.onRelay, webhooks: { dispatcher: webhooks, store: webhookStore }, tokens,
    onKeyCreated: (id) => { void keeper.tick(); emit('key.created', { keyId: id }); } });
  if (tokens.count() === 0) log.warn('auth.no_tokens', { hint: 'no API token exists: every API call except /healthz, /metrics and /openapi.json is refused; create one with "custos tokens create"' });
  await cluster.probe();
  cluster.startProbing();
  keeper.start();
  requests.start();
  webhooks.start(1000);
  const url = await listenUrl(app, cfg.host, cfg.port);
  log.info('coordinator.listening', { url });
  return {
    url,
    close: once(async () => {
      keeper.stop();
      requests.stop();
      cluster.stop();
      await webhooks.stop();
      await app.close();
      store.close();
      ks?.close();
    }),
  };
}
