import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../common/errors.ts';
import type { IdentitySecret, Role } from '../policy/identity.ts';

/**
 * The credentials file a client holds ($CUSTOS_HOME/credentials.json on a demo cluster, or what
 * `custos identity new` writes): identities with their private keys, and an API token. Kept apart
 * from the demo bootstrap so every CLI command can read it without loading that.
 */
export type StoredIdentity = IdentitySecret & { roles: Role[]; publicKey: string };
export type Credentials = { demo: boolean; warning?: string; token?: string; identities: Record<string, StoredIdentity>; defaultInitiator?: string };

export function credentialsPath(home: string): string {
  return join(home, 'credentials.json');
}

export function loadCredentials(home: string): Credentials | undefined {
  const path = credentialsPath(home);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Credentials;
  } catch (e) {
    throw new ConfigError(`cannot read ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
}

export function writeCredentials(home: string, c: Credentials): string {
  const path = credentialsPath(home);
  writeFileSync(path, JSON.stringify(c, null, 2) + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}
