import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toHex } from '../common/bytes.ts';
import { jsonLogger } from '../common/logger.ts';
import { listenUrl } from '../common/http.ts';
import { once } from '../common/once.ts';
import { parseGenesis, type Genesis } from '../wire/genesis.ts';
import { openConfiguredKeystore } from '../hsm/configured-keystore.ts';
import type { Keystore } from '../hsm/keystore.ts';
import { loadNodeConfig, type NodeConfig } from './config.ts';
import { NodeStore } from './store.ts';
import { NodeService } from './service.ts';
import { buildNodeServer } from './server.ts';
import { WorkerPool } from '../common/worker-pool.ts';

/** Opens the node's own HSM token. */
export function openNodeKeystore(cfg: NodeConfig): Keystore {
  return openConfiguredKeystore(cfg.pkcs11);
}

export function printPublicKeys(dataDir: string): void {
  const cfg = loadNodeConfig(dataDir);
  const ks = openNodeKeystore(cfg);
  try {
    process.stdout.write(JSON.stringify({ node: cfg.id, identityKey: toHex(ks.identityPublicKey()), encryptionKey: toHex(ks.encryptionPublicKey()) }) + '\n');
  } finally {
    ks.close();
  }
}

/** A node's genesis, HSM token and database, from its data directory (online or offline node). */
export function openNodeState(cfg: NodeConfig): { genesis: Genesis; ks: Keystore; store: NodeStore } {
  const genesis = parseGenesis(JSON.parse(readFileSync(cfg.genesisPath, 'utf8')));
  const ks = openNodeKeystore(cfg);
  return { genesis, ks, store: new NodeStore(join(cfg.dataDir, 'node.db')) };
}

export async function runNode(dataDir: string, overrides: { port?: number } = {}): Promise<{ url: string; close: () => Promise<void> }> {
  const cfg = loadNodeConfig(dataDir);
  const log = jsonLogger(cfg.id);
  const { genesis, ks, store } = openNodeState(cfg);
  // One worker: presigning rounds leave the event loop free for online signing (one message, cheap),
  // which so keeps priority over background presigning on this node.
  const workers = new WorkerPool(new URL('./presign-worker.ts', import.meta.url), 1);
  const svc = new NodeService({ id: cfg.id, genesis, keystore: ks, store, logger: log, workers });
  const app = buildNodeServer(svc, log);
  const url = await listenUrl(app, cfg.host, overrides.port ?? cfg.port);
  log.info('node.listening', { url });
  return {
    url,
    close: once(async () => {
      await app.close();
      await workers.close();
      store.close();
      ks.close();
    }),
  };
}
