import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify as stringifyYaml } from 'yaml';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { openDatabase } from '../../src/common/sqlite.ts';
import { ApiTokens } from '../../src/coordinator/api-tokens.ts';
import { parseIdentity, type Identity } from '../../src/policy/identity.ts';
import { parseSignedPolicy, verifyPolicyQuorum } from '../../src/policy/signed-policy.ts';
import { parsePolicy } from '../../src/policy/document.ts';
import { genesisHash, parseGenesis, type Genesis } from '../../src/wire/genesis.ts';

/** The CLI as a user runs it, with CUSTOS_HOME in a temp dir; no cluster is needed here. */
const run = (home: string, args: string[]) => spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'src/cli/main.ts', ...args], {
  encoding: 'utf8', env: { ...process.env, CUSTOS_HOME: home, CUSTOS_TOKEN: '', CUSTOS_URL: 'http://127.0.0.1:9' },
});

function ok(r: ReturnType<typeof run>, what: string): string {
  assert.equal(r.status, 0, `${what}: ${r.stderr}`);
  return r.stdout;
}

/** A refusal: the given exit status and exactly one line on stderr naming the code, no stack. */
function refused(r: ReturnType<typeof run>, status: number, code: string, what: RegExp): void {
  assert.equal(r.status, status, r.stderr);
  assert.match(r.stderr, /^custos: [^\n]+\n$/);
  assert.match(r.stderr, new RegExp(`\\[${code.replace('.', '\\.')}\\]\\n$`));
  assert.match(r.stderr, what);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

function withHome(fn: (home: string) => void): void {
  const home = mkdtempSync(join(tmpdir(), 'custos-policy-cli-'));
  try {
    fn(home);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

const point = () => Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).toString('hex');

function writeGenesis(path: string, admins: Identity[], threshold: number, clusterName = 'policy-cli-test'): Genesis {
  const g = parseGenesis({
    version: 1, clusterName, createdAt: '2026-01-01T00:00:00.000Z',
    nodes: ['node-1', 'node-2', 'node-3'].map((id) => ({ id, identityKey: point(), encryptionKey: point() })),
    thresholds: { min: 2, max: 3 }, admins: { threshold, identities: admins },
  });
  writeFileSync(path, JSON.stringify(g, null, 2));
  return g;
}

function policyDoc(identities: Identity[], version = 1) {
  return { version, identities, adminThreshold: 2, assets: [], addressLists: [], groups: [], rules: [{ id: 'allow-all', match: {}, action: { type: 'allow' } }] };
}

function newId(home: string, id: string, roles: string, alg?: string): { identity: Identity; file: string } {
  const file = join(home, `${id}.key.json`);
  const out = ok(run(home, ['identity', 'new', '--id', id, '--roles', roles, ...(alg ? ['--alg', alg] : []), '--out', file]), `identity new ${id}`);
  return { identity: parseIdentity(JSON.parse(out)), file };
}

test('identity new writes the secret 0600 in credentials form, prints only the public identity, and never overwrites', () => withHome((home) => {
  const { identity, file } = newId(home, 'alice', 'admin,approver', 'ed25519');
  assert.deepEqual(identity.roles, ['admin', 'approver']);
  assert.equal(identity.alg, 'ed25519');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const stored = JSON.parse(readFileSync(file, 'utf8')).identities.alice;
  assert.deepEqual({ id: stored.id, alg: stored.alg, roles: stored.roles, publicKey: stored.publicKey }, { id: 'alice', alg: 'ed25519', roles: ['admin', 'approver'], publicKey: identity.publicKey });
  assert.match(stored.secretKey, /^[0-9a-f]{64}$/);
  const again = run(home, ['identity', 'new', '--id', 'alice', '--roles', 'admin', '--out', file]);
  assert.doesNotMatch(again.stdout, /secretKey/);
  refused(again, 1, 'cli.file', /already exists; refusing to overwrite/);
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).identities.alice.secretKey, stored.secretKey, 'the existing key is untouched');
  refused(run(home, ['identity', 'new', '--id', 'bob', '--roles', 'admin,overlord', '--out', join(home, 'bob.json')]), 2, 'cli.usage', /--roles/);
  assert.equal(existsSync(join(home, 'bob.json')), false);
  // P-256 is the default: a compressed SEC1 point.
  assert.match(newId(home, 'carol', 'initiator').identity.publicKey, /^0[23][0-9a-f]{64}$/);
}));

test('two admins sign one policy file in turn; the signatures verify as a quorum for that genesis only', () => withHome((home) => {
  const alice = newId(home, 'alice', 'admin');
  const bob = newId(home, 'bob', 'admin', 'ed25519');
  const ini = newId(home, 'ini', 'initiator');
  const g = writeGenesis(join(home, 'genesis.json'), [alice.identity, bob.identity], 2);
  const policyFile = join(home, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(policyDoc([alice.identity, bob.identity, ini.identity])));
  const signedFile = join(home, 'signed.json');

  const first = JSON.parse(ok(run(home, ['policy', 'sign', policyFile, '--as', 'alice', '--credentials', alice.file, '--out', signedFile]), 'alice signs'));
  assert.deepEqual(first.signedBy, ['alice']);
  assert.equal(first.cluster, genesisHash(g));
  const admins = { threshold: 2, identities: [alice.identity, bob.identity] };
  assert.throws(() => verifyPolicyQuorum(genesisHash(g), parseSignedPolicy(JSON.parse(readFileSync(signedFile, 'utf8'))), admins), { code: 'policy.under_signed' });

  // Bob adds his signature to the same file (in place), without the policy FILE.
  const second = JSON.parse(ok(run(home, ['policy', 'sign', '--signed', signedFile, '--as', 'bob', '--credentials', bob.file, '--out', signedFile]), 'bob signs'));
  assert.deepEqual(second.signedBy, ['alice', 'bob']);
  assert.deepEqual(second.genesisAdmins, { threshold: 2, signed: 2 });
  const signed = parseSignedPolicy(JSON.parse(readFileSync(signedFile, 'utf8')));
  assert.deepEqual(verifyPolicyQuorum(genesisHash(g), signed, admins).sort(), ['alice', 'bob']);

  // The signatures bind this cluster: the same admins on another genesis do not verify.
  const other = writeGenesis(join(home, 'other-genesis.json'), [alice.identity, bob.identity], 2, 'another-cluster');
  assert.throws(() => verifyPolicyQuorum(genesisHash(other), signed, admins), { code: 'policy.bad_signature' });

  // Without --out the signed document goes to stdout; signing again replaces, never duplicates.
  const again = parseSignedPolicy(JSON.parse(ok(run(home, ['policy', 'sign', policyFile, '--signed', signedFile, '--as', 'bob', '--credentials', bob.file]), 'bob again')));
  assert.deepEqual(again.signatures.map((s) => s.admin), ['alice', 'bob']);
  assert.deepEqual(verifyPolicyQuorum(genesisHash(g), again, admins).sort(), ['alice', 'bob']);

  // --genesis names the cluster explicitly: signing for the other cluster verifies there.
  const forOther = parseSignedPolicy(JSON.parse(ok(run(home, ['policy', 'sign', policyFile, '--as', 'alice', '--credentials', alice.file, '--genesis', join(home, 'other-genesis.json')]), 'alice, other cluster')));
  assert.deepEqual(verifyPolicyQuorum(genesisHash(other), forOther, { threshold: 1, identities: [alice.identity] }), ['alice']);
}));

test('a policy written in YAML is signed as the same canonical JSON document', () => withHome((home) => {
  const alice = newId(home, 'alice', 'admin');
  const ini = newId(home, 'ini', 'initiator');
  const g = writeGenesis(join(home, 'genesis.json'), [alice.identity], 1);
  const doc = { ...policyDoc([alice.identity, ini.identity]), adminThreshold: 1 };
  const yamlFile = join(home, 'policy.yaml');
  writeFileSync(yamlFile, stringifyYaml(doc));
  const signed = parseSignedPolicy(JSON.parse(ok(run(home, ['policy', 'sign', yamlFile, '--as', 'alice', '--credentials', alice.file]), 'alice signs YAML')));
  assert.deepEqual(signed.policy, parsePolicy(doc));
  assert.deepEqual(verifyPolicyQuorum(genesisHash(g), { policy: parsePolicy(doc), signatures: signed.signatures }, { threshold: 1, identities: [alice.identity] }), ['alice']);
  writeFileSync(yamlFile, 'version: 1\nversion: 2\n');
  refused(run(home, ['policy', 'sign', yamlFile, '--as', 'alice', '--credentials', alice.file]), 1, 'cli.file', /not valid YAML/);
}));

test('policy sign refuses unknown identities, wrong keys, bad signatures, other policies and malformed files', () => withHome((home) => {
  const alice = newId(home, 'alice', 'admin');
  const bob = newId(home, 'bob', 'admin');
  writeGenesis(join(home, 'genesis.json'), [alice.identity, bob.identity], 2);
  const policyFile = join(home, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(policyDoc([alice.identity, bob.identity])));
  const signedFile = join(home, 'signed.json');

  refused(run(home, ['policy', 'sign', policyFile, '--as', 'mallory', '--credentials', alice.file]), 1, 'identity.unknown', /identity "mallory" is not in .*alice\.key\.json/);
  refused(run(home, ['policy', 'sign', policyFile, '--credentials', alice.file]), 2, 'cli.usage', /--as ADMIN/);
  refused(run(home, ['policy', 'sign', policyFile, '--as', 'alice']), 1, 'cli.no_credentials', /no credentials at .*credentials\.json/);

  // A key for "alice" that is not the alice of the genesis and the policy.
  const impostorDir = join(home, 'impostor');
  mkdirSync(impostorDir);
  const impostor = newId(impostorDir, 'alice', 'admin');
  refused(run(home, ['policy', 'sign', policyFile, '--as', 'alice', '--credentials', impostor.file]), 1, 'identity.key_mismatch', /does not match its public key/);

  ok(run(home, ['policy', 'sign', policyFile, '--as', 'alice', '--credentials', alice.file, '--out', signedFile]), 'alice signs');
  // Bob is asked to add his signature to a different document than the one signed so far.
  const changed = join(home, 'changed.json');
  writeFileSync(changed, JSON.stringify({ ...policyDoc([alice.identity, bob.identity]), version: 2 }));
  refused(run(home, ['policy', 'sign', changed, '--signed', signedFile, '--as', 'bob', '--credentials', bob.file]), 1, 'policy.mismatch', /not the policy that .*signed\.json carries/);
  // Alice's signature was altered in transit: bob's CLI names it before adding his own.
  const s = JSON.parse(readFileSync(signedFile, 'utf8'));
  s.signatures[0].signature = s.signatures[0].signature.replace(/^./, (c: string) => (c === '0' ? '1' : '0'));
  const tampered = join(home, 'tampered.json');
  writeFileSync(tampered, JSON.stringify(s));
  refused(run(home, ['policy', 'sign', '--signed', tampered, '--as', 'bob', '--credentials', bob.file, '--out', join(home, 'out.json')]), 1, 'policy.bad_signature', /signature of alice/);
  assert.equal(existsSync(join(home, 'out.json')), false);

  // Malformed policy files: not JSON, and JSON that is not a valid policy.
  const notJson = join(home, 'not-json.json');
  writeFileSync(notJson, 'version: 1\nrules: []\n');
  refused(run(home, ['policy', 'sign', notJson, '--as', 'alice', '--credentials', alice.file]), 1, 'cli.file', /is not valid JSON/);
  const invalid = join(home, 'invalid.json');
  writeFileSync(invalid, JSON.stringify({ ...policyDoc([alice.identity, bob.identity]), adminThreshold: 3 }));
  refused(run(home, ['policy', 'sign', invalid, '--as', 'alice', '--credentials', alice.file]), 1, 'policy.invalid', /\$\.adminThreshold/);
  refused(run(home, ['policy', 'sign', join(home, 'missing.json'), '--as', 'alice', '--credentials', alice.file]), 1, 'cli.file', /no such file/);
  refused(run(home, ['policy', 'push', policyFile]), 1, 'policy.unsigned', /not signed.*custos policy sign/);
  writeFileSync(invalid, JSON.stringify({ policy: { ...policyDoc([alice.identity, bob.identity]), adminThreshold: 3 }, signatures: [] }));
  refused(run(home, ['policy', 'push', invalid]), 1, 'policy.invalid', /\$\.adminThreshold/);
}));

test('tokens create/list/revoke work on the coordinator database, which stores only the hash', () => withHome((home) => {
  const dir = join(home, 'coord-data');
  refused(run(home, ['tokens', 'create', '--name', 'ci', '--data-dir', dir]), 1, 'config.invalid', /no coordinator data directory/);
  assert.equal(existsSync(dir), false, 'a wrong path leaves nothing behind');
  mkdirSync(dir);
  const created = JSON.parse(ok(run(home, ['tokens', 'create', '--name', 'ci pipeline', '--data-dir', dir]), 'create'));
  assert.match(created.token, /^custos_[0-9a-f]{16}_/);
  const listed = JSON.parse(ok(run(home, ['tokens', 'list', '--data-dir', dir]), 'list')).tokens;
  assert.deepEqual(listed.map((t: { id: string; name: string; revokedAt: null }) => [t.id, t.name, t.revokedAt]), [[created.id, 'ci pipeline', null]]);
  // The secret part may itself contain '_' (base64url): take everything after the id.
  assert.ok(!JSON.stringify(listed).includes(created.token.split('_').slice(2).join('_')));

  const check = (token: string) => {
    const db = openDatabase(join(dir, 'coordinator.db'));
    try {
      const rows = db.prepare('SELECT * FROM api_tokens').all();
      assert.ok(!JSON.stringify(rows).includes(token.split('_').slice(2).join('_')), 'the secret is not stored');
      return new ApiTokens(db).verify(token);
    } finally {
      db.close();
    }
  };
  assert.deepEqual(check(created.token), { id: created.id, name: 'ci pipeline' });
  const revoked = JSON.parse(ok(run(home, ['tokens', 'revoke', created.id, '--data-dir', dir]), 'revoke'));
  assert.equal(revoked.id, created.id);
  assert.ok(revoked.revokedAt);
  assert.equal(check(created.token), undefined);
  refused(run(home, ['tokens', 'revoke', 'ffffffffffffffff', '--data-dir', dir]), 1, 'token.not_found', /ffffffffffffffff/);
  refused(run(home, ['tokens', 'create', '--data-dir', dir]), 2, 'cli.usage', /--name/);

  // Without --data-dir: $CUSTOS_HOME/coordinator.
  mkdirSync(join(home, 'coordinator'));
  const dflt = JSON.parse(ok(run(home, ['tokens', 'create', '--name', 'default']), 'create in home'));
  const db = openDatabase(join(home, 'coordinator', 'coordinator.db'));
  try {
    assert.deepEqual(new ApiTokens(db).verify(dflt.token), { id: dflt.id, name: 'default' });
  } finally {
    db.close();
  }
}));

test('init --admins refuses a bad admins file before provisioning anything', () => withHome((home) => {
  const alice = newId(home, 'alice', 'admin');
  const ini = newId(home, 'ini', 'initiator');
  const cases: [unknown, RegExp][] = [
    [{ threshold: 1, identities: [JSON.parse(readFileSync(alice.file, 'utf8')).identities.alice] }, /contains a secret key/],
    [{ threshold: 2, identities: [alice.identity] }, /threshold must be an integer 1\.\.1/],
    [{ threshold: 1, identities: [alice.identity, ini.identity] }, /\(ini\) does not hold the admin role/],
    [{ threshold: 1, identities: [alice.identity, alice.identity] }, /distinct/],
    [{ threshold: 1, identities: [{ ...alice.identity, publicKey: '02' + 'ab'.repeat(31) }] }, /publicKey/],
  ];
  for (const [doc, re] of cases) {
    const file = join(home, 'admins.json');
    writeFileSync(file, JSON.stringify(doc));
    refused(run(home, ['init', '--admins', file]), 1, 'cli.admins', re);
    assert.equal(existsSync(join(home, 'genesis.json')), false);
    assert.equal(existsSync(join(home, 'nodes')), false);
  }
}));

test('init --admins bootstraps with the given admins only; their ceremony then signs for that genesis', () => withHome((home) => {
  const alice = newId(home, 'alice', 'admin');
  const bob = newId(home, 'bob', 'admin,approver', 'ed25519');
  const adminsFile = join(home, 'admins.json');
  writeFileSync(adminsFile, JSON.stringify({ threshold: 2, identities: [alice.identity, bob.identity] }));
  const r = run(home, ['init', '--admins', adminsFile]);
  const out = JSON.parse(ok(r, 'init --admins'));
  assert.equal(out.demo, false);
  assert.deepEqual(out.admins, { threshold: 2, identities: ['alice', 'bob'] });
  assert.match(r.stderr, /every sign request is denied until 2 of the 2 admins sign a policy/);
  assert.match(r.stderr, /custos tokens create/);
  assert.equal(existsSync(join(home, 'credentials.json')), false, 'no demo credentials');
  const g = parseGenesis(JSON.parse(readFileSync(join(home, 'genesis.json'), 'utf8')));
  assert.equal(out.cluster, genesisHash(g));
  assert.deepEqual(g.admins, { threshold: 2, identities: [alice.identity, bob.identity] });

  const policyFile = join(home, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(policyDoc([alice.identity, bob.identity])));
  const signedFile = join(home, 'signed.json');
  ok(run(home, ['policy', 'sign', policyFile, '--as', 'alice', '--credentials', alice.file, '--out', signedFile]), 'alice');
  ok(run(home, ['policy', 'sign', '--signed', signedFile, '--as', 'bob', '--credentials', bob.file, '--out', signedFile]), 'bob');
  const signed = parseSignedPolicy(JSON.parse(readFileSync(signedFile, 'utf8')));
  assert.deepEqual(verifyPolicyQuorum(genesisHash(g), signed, { threshold: g.admins!.threshold, identities: g.admins!.identities as Identity[] }).sort(), ['alice', 'bob']);
  // The coordinator directory exists, so API tokens can be made before the first start.
  assert.match(JSON.parse(ok(run(home, ['tokens', 'create', '--name', 'first']), 'token')).token, /^custos_/);
}));

test('init --demo says it is a DEMO and where the credentials are; plain init asks which', () => withHome((home) => {
  const plain = run(home, ['init']);
  assert.equal(plain.status, 2);
  assert.match(plain.stderr, /give --admins FILE \(production: default deny and an admin ceremony\) or --demo/);
  const r = run(home, ['init', '--demo']);
  const out = JSON.parse(ok(r, 'init'));
  assert.equal(out.demo, true);
  assert.equal(out.credentials, join(home, 'credentials.json'));
  assert.match(r.stderr, /DEMO cluster/);
  assert.match(r.stderr, new RegExp(`${join(home, 'credentials.json').replace(/[.]/g, '\\.')} holds every demo identity's private key`));
  const creds = JSON.parse(readFileSync(out.credentials, 'utf8'));
  assert.equal(creds.demo, true);
  assert.equal(statSync(out.credentials).mode & 0o777, 0o600);
}));
