import { sha256 } from '@noble/hashes/sha2.js';
import { canonicalBytes } from '../common/canonical-json.ts';
import { fromHex, toHex } from '../common/bytes.ts';
import { ConfigError } from '../common/errors.ts';
import { MAX_PARTIES, MIN_THRESHOLD } from '../common/schemes.ts';


/**
 * The cluster's root of trust, installed on every node out of band. It names the nodes with
 * their identity (signing) and encryption public keys and the thresholds allowed. A node only
 * accepts messages from nodes listed here; the coordinator cannot add one.
 */
/** An admin identity as the genesis lists it; the node parses it strictly (policy/identity.ts). */
export type GenesisAdmin = { id: string; roles: string[]; alg: string; publicKey: string };
export type GenesisNode = { id: string; identityKey: string; encryptionKey: string };
export type Genesis = {
  version: 1;
  clusterName: string;
  createdAt: string;
  nodes: GenesisNode[];
  thresholds: { min: number; max: number };
  /** The first admin set: only a quorum of them can activate the first policy version. */
  admins?: { threshold: number; identities: GenesisAdmin[] };
  /** The coordinator's HSM identity key: it signs the coordinator's audit log (nothing else). */
  coordinator?: { identityKey: string };
};

const ID_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;

export function parseGenesis(x: unknown): Genesis {
  const fail = (m: string) => new ConfigError(`genesis: ${m}`);
  if (typeof x !== 'object' || x === null) throw fail('not an object');
  const g = x as Genesis;
  if (g.version !== 1) throw fail('unsupported version');
  if (!Array.isArray(g.nodes) || g.nodes.length < 2 || g.nodes.length > MAX_PARTIES) throw fail(`needs 2 to ${MAX_PARTIES} nodes`);
  const seen = new Set<string>();
  for (const n of g.nodes) {
    if (typeof n.id !== 'string' || !ID_RE.test(n.id)) throw fail(`bad node id ${JSON.stringify(n.id)}`);
    if (seen.has(n.id)) throw fail(`duplicate node id ${n.id}`);
    seen.add(n.id);
    fromHex(n.identityKey, `genesis ${n.id}.identityKey`, 33);
    fromHex(n.encryptionKey, `genesis ${n.id}.encryptionKey`, 33);
  }
  const t = g.thresholds;
  if (!t || !Number.isInteger(t.min) || !Number.isInteger(t.max) || t.min < MIN_THRESHOLD || t.max > g.nodes.length || t.min > t.max) throw fail('bad thresholds');
  if (g.coordinator !== undefined) fromHex(g.coordinator?.identityKey, 'genesis coordinator.identityKey', 33);
  if (g.admins !== undefined) {
    const a = g.admins;
    if (!a || !Array.isArray(a.identities) || !Number.isInteger(a.threshold) || a.threshold < 1 || a.threshold > a.identities.length) throw fail('admins must be {threshold: 1..n, identities: [n admins]}');
    a.identities.forEach((x, i) => {
      if (!x || typeof x.id !== 'string' || !Array.isArray(x.roles) || typeof x.alg !== 'string' || typeof x.publicKey !== 'string') throw fail(`admins.identities[${i}] must be {id, roles, alg, publicKey}`);
      if (!x.roles.includes('admin')) throw fail(`admins.identities[${i}] (${x.id}) does not hold the admin role`);
    });
    if (new Set(a.identities.map((x) => x.id)).size !== a.identities.length) throw fail('admin ids must be distinct');
  }
  return g;
}

/** The cluster id every envelope is bound to. */
export function genesisHash(g: Genesis): string {
  return toHex(sha256(canonicalBytes(g)));
}

export function identityKeys(g: Genesis): Record<string, Uint8Array> {
  return Object.fromEntries(g.nodes.map((n) => [n.id, fromHex(n.identityKey, 'identityKey', 33)]));
}

