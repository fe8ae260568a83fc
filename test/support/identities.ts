import { newIdentity, type Identity, type IdentitySecret, type Role } from '../../src/policy/identity.ts';

/** Fresh identities for `spec` (id → roles), with their secrets for signing in tests. */
export function makeIdentities(spec: Record<string, Role[]>): { identities: Identity[]; secrets: Record<string, IdentitySecret> } {
  const identities: Identity[] = [];
  const secrets: Record<string, IdentitySecret> = {};
  for (const [id, roles] of Object.entries(spec)) {
    const made = newIdentity(id, roles, id.startsWith('ed-') ? 'ed25519' : 'p256');
    identities.push(made.identity);
    secrets[id] = made.secret;
  }
  return { identities, secrets };
}
