import { join } from 'node:path';
import { openDatabase } from '../common/sqlite.ts';
import { ApiTokens } from '../coordinator/api-tokens.ts';
import { parsePolicy, type Policy } from '../policy/document.ts';
import { newIdentity, type Identity, type Role } from '../policy/identity.ts';
import type { Credentials, StoredIdentity } from './credentials.ts';
import { signPolicyAs } from '../policy/client-signing.ts';
import type { SignedPolicy } from '../policy/signed-policy.ts';

/**
 * The quickstart's demo credentials (issue 4, acceptance): identities with their private keys, an
 * API token, and a starter policy, written to $CUSTOS_HOME/credentials.json. DEMO ONLY: every key
 * sits in one file on one machine, which is exactly what custody must never do. A production
 * cluster starts from `custos init --admins FILE` (public keys only), default deny, and an admin
 * ceremony (see the README).
 */
export const DEMO_WARNING = 'DEMO CREDENTIALS for the local quickstart: every private key of every person is in this one file. Never use them for real funds; a production cluster is bootstrapped with `custos init --admins FILE` and each person keeps their own key.';

const DEMO_PEOPLE: [string, Role[]][] = [
  ['demo-admin-1', ['admin']],
  ['demo-admin-2', ['admin']],
  ['demo-initiator', ['initiator']],
  ['demo-approver-1', ['approver']],
  ['demo-approver-2', ['approver']],
  ['demo-auditor', ['auditor']],
];

/** Fresh demo identities: the genesis gets the admins' public keys, the file gets everything. */
export function demoIdentities(): { admins: { threshold: number; identities: Identity[] }; all: Identity[]; secrets: Record<string, StoredIdentity> } {
  const all: Identity[] = [];
  const secrets: Record<string, StoredIdentity> = {};
  for (const [id, roles] of DEMO_PEOPLE) {
    const m = newIdentity(id, roles);
    all.push(m.identity);
    secrets[id] = { ...m.secret, roles, publicKey: m.identity.publicKey };
  }
  return { admins: { threshold: 2, identities: all.filter((i) => i.roles.includes('admin')) }, all, secrets };
}

/**
 * The starter policy: native ETH transfers above 1 ETH wait for one demo approver; fees are capped
 * at 0.05 ETH; raw digests and messages, contract calls and typed data are allowed by a rule that
 * names them (they are opt-in); every other transfer is allowed. Rule ids say "demo".
 */
export function demoPolicy(identities: Identity[]): Policy {
  return parsePolicy({
    version: 1,
    identities,
    adminThreshold: 2,
    assets: [
      // Fees are capped per chain: at most 0.05 ETH per transaction.
      { id: 'eth', chain: 'eip155:1', contract: null, decimals: 18, maxFee: '50000000000000000' },
      { id: 'sepolia-eth', chain: 'eip155:11155111', contract: null, decimals: 18, maxFee: '50000000000000000' },
    ],
    addressLists: [],
    groups: [{ id: 'demo-approvers', members: ['demo-approver-1', 'demo-approver-2'] }],
    rules: [
      {
        id: 'demo-eth-over-1-needs-approval',
        match: { assets: ['eth', 'sepolia-eth'], txTypes: ['transfer'], amountMin: '1000000000000000001' },
        action: { type: 'approve', groups: [{ group: 'demo-approvers', threshold: 1 }], timelockSeconds: 0, expirySeconds: 86400 },
      },
      // Raw digests and messages, contract calls and typed data are opt-in: they need a rule naming them.
      { id: 'demo-allow-opt-in-types', match: { txTypes: ['raw-digest', 'raw-message', 'contract-call', 'typed-data'] }, action: { type: 'allow' } },
      { id: 'demo-allow-everything-else', match: {}, action: { type: 'allow' } },
    ],
  });
}

/** The demo policy signed by both demo admins for `cluster`, ready to push. */
export function signedDemoPolicy(cluster: string, c: Credentials): SignedPolicy {
  const identities = Object.values(c.identities).map((s) => publicOf(s));
  const admins = Object.values(c.identities).filter((s) => s.roles.includes('admin'));
  return signPolicyAs(cluster, demoPolicy(identities), admins);
}

export function publicOf(s: StoredIdentity): Identity {
  return { id: s.id, roles: s.roles, alg: s.alg, publicKey: s.publicKey };
}

/** Creates an API token in the coordinator's database (only its hash is stored there). */
export function createToken(coordinatorDir: string, name: string): string {
  const db = openDatabase(join(coordinatorDir, 'coordinator.db'));
  try {
    return new ApiTokens(db).create(name).token;
  } finally {
    db.close();
  }
}
