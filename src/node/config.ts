import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../common/errors.ts';

/**
 * A node's configuration file (`node.json` in its data directory). The HSM PIN is never in it:
 * it comes from the environment variable named by `pinEnv` or from `pinFile` (mode 0600).
 */
export type NodeConfig = {
  id: string;
  dataDir: string;
  host: string;
  port: number;
  genesisPath: string;
  pkcs11: { module?: string; tokenLabel: string; pinEnv?: string; pinFile?: string; softhsmConf?: string };
  /** An offline node's trust in attested time (see OfflineNode); defaults there. */
  offline?: { timeAttesters?: string[]; minTimeAttestations?: number; maxSkewSeconds?: number };
};

export function loadNodeConfig(dataDir: string): NodeConfig {
  const dir = resolve(dataDir);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read ${join(dir, 'node.json')}: ${(e as Error).message.split('\n')[0]}`);
  }
  const c = raw as Partial<NodeConfig>;
  if (typeof c.id !== 'string' || !c.pkcs11 || typeof c.pkcs11.tokenLabel !== 'string') throw new ConfigError(`${join(dir, 'node.json')} needs "id" and "pkcs11.tokenLabel"`);
  const rel = (p: string | undefined) => (p === undefined ? undefined : resolve(dir, p));
  return {
    id: c.id,
    dataDir: dir,
    host: c.host ?? '127.0.0.1',
    port: c.port ?? 0,
    genesisPath: rel(c.genesisPath) ?? join(dir, 'genesis.json'),
    pkcs11: { ...c.pkcs11, pinFile: rel(c.pkcs11.pinFile), softhsmConf: rel(c.pkcs11.softhsmConf) },
    ...(c.offline === undefined ? {} : { offline: checkOffline(c.offline, join(dir, 'node.json')) }),
  };
}

function checkOffline(o: unknown, path: string): NonNullable<NodeConfig['offline']> {
  const c = o as NodeConfig['offline'];
  const bad = (m: string) => new ConfigError(`${path}: offline.${m}`);
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw bad('must be an object');
  const extra = Object.keys(c).filter((k) => !['timeAttesters', 'minTimeAttestations', 'maxSkewSeconds'].includes(k));
  if (extra.length) throw bad(`unknown field(s) ${extra.join(', ')}`);
  if (c.timeAttesters !== undefined && (!Array.isArray(c.timeAttesters) || c.timeAttesters.length === 0 || c.timeAttesters.some((x) => typeof x !== 'string'))) throw bad('timeAttesters must be a non-empty list of node ids');
  if (c.minTimeAttestations !== undefined && (!Number.isInteger(c.minTimeAttestations) || c.minTimeAttestations < 1)) throw bad('minTimeAttestations must be an integer >= 1');
  if (c.maxSkewSeconds !== undefined && (!Number.isFinite(c.maxSkewSeconds) || c.maxSkewSeconds < 0)) throw bad('maxSkewSeconds must be a number >= 0');
  return c;
}
