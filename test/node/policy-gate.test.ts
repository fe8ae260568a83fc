import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transaction } from 'ethers';
import { jsonLogger } from '../../src/common/logger.ts';
import { SoftwareKeystore } from '../../src/hsm/software-keystore.ts';
import { NodeStore } from '../../src/node/store.ts';
import { NodeAudit } from '../../src/node/audit.ts';
import { NodePolicy } from '../../src/node/policy-gate.ts';
import { parsePolicy, type Policy } from '../../src/policy/document.ts';
import { approvalBy, signPolicyAs, signRequestAs } from '../../src/policy/client-signing.ts';
import { signRequestDigest, type Authorization } from '../../src/policy/sign-request.ts';
import type { KeyFacts } from '../../src/policy/authorize.ts';
import { makeIdentities } from '../support/identities.ts';

/**
 * The node's own policy gate, driven directly with an injected clock: activation by admin quorum
 * and never backwards, initiator and approval checks, timelock and expiry from the node's first
 * sight, velocity from its own durable counters, cooldowns on its own clock, and an audit entry
 * for every refusal. Payloads are real Ethereum transactions built by ethers.
 */
const CLUSTER = 'c'.repeat(64);
const people = makeIdentities({
  'adm-1': ['admin'], 'adm-2': ['admin'], 'adm-3': ['admin'], ivan: ['initiator'], 'ed-ines': ['initiator'], tina: ['approver'], tom: ['approver'], tara: ['approver'], rita: ['approver'], auditor: ['auditor'],
});
const S = people.secrets;
const KEY: KeyFacts = { id: 'treasury', scheme: 'ecdsa-secp256k1', threshold: 2, parties: ['node-1', 'node-2', 'node-3'] };
const WIDE: KeyFacts = { id: 'wide', scheme: 'ecdsa-secp256k1', threshold: 2, parties: ['node-1', 'node-2', 'node-3', 'node-4'] };
const ALICE = '0x1111111111111111111111111111111111111111';
const BOB = '0x2222222222222222222222222222222222222222';
const T0 = Date.parse('2026-06-01T10:00:00Z');

function ethTx(to: string, wei: bigint, nonce = 0): string {
  return Transaction.from({ type: 2, chainId: 1, nonce, to, value: wei, gasLimit: 21000, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n, data: '0x' }).unsignedSerialized.slice(2);
}

function policy(version: number, rules: unknown[], extra: Record<string, unknown> = {}): Policy {
  return parsePolicy({
    version, identities: people.identities, adminThreshold: 2,
    assets: [{ id: 'eth', chain: 'eip155:1', contract: null, decimals: 18, maxFee: '1000000000000000' }],
    addressLists: [{ id: 'cp', cooldownSeconds: 3600, entries: [{ address: ALICE, addedAt: '2026-01-01T00:00:00Z' }] }],
    groups: [{ id: 'treasury', members: ['tina', 'tom', 'tara'] }, { id: 'risk', members: ['rita', 'tara'] }],
    rules, ...extra,
  });
}

const BIG = { id: 'big', match: { assets: ['eth'], txTypes: ['transfer'], amountMin: '1000000000000000001' }, action: { type: 'approve', groups: [{ group: 'treasury', threshold: 2 }, { group: 'risk', threshold: 1 }], timelockSeconds: 3600, expirySeconds: 86400 } };
// At most 3 an hour per key; a node of a 2-of-3 key enforces its share: 2 (evaluate.ts).
const SMALL = { id: 'small', match: { assets: ['eth'], txTypes: ['transfer'], destination: { list: 'cp' }, velocity: [{ windowSeconds: 3600, maxCount: 3, per: 'key' }] }, action: { type: 'allow' } };

describe('NodePolicy: the gate every node runs before any share computation', () => {
  let dir: string;
  let store: NodeStore;
  let audit: NodeAudit;
  let now = T0;
  let keys: KeyFacts[] = [KEY];
  const ks = new SoftwareKeystore();
  const gate = () => new NodePolicy({
    store, audit, cluster: CLUSTER, log: jsonLogger('test', () => {}), now: () => new Date(now), keys: () => keys,
    genesisAdmins: { threshold: 2, identities: people.identities.filter((i) => i.roles.includes('admin')) },
  });
  let g: NodePolicy;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'custos-gate-'));
    store = new NodeStore(join(dir, 'node.db'));
    audit = new NodeAudit(store, 'node-1', (m) => ks.signIdentity(m));
    g = gate();
  });
  after(() => { store.close(); rmSync(dir, { recursive: true, force: true }); });

  const lastAudit = () => JSON.parse(store.lastAuditEntry()!) as { kind: string; data: Record<string, unknown> };
  function refuses(fn: () => unknown, code: string, message?: RegExp) {
    assert.throws(fn, (e: any) => {
      assert.equal(e.code, code, e.message);
      if (message) assert.match(e.message, message);
      return true;
    });
    const entry = lastAudit();
    assert.match(entry.kind, /refused$/, 'every refusal is audited');
    assert.equal(entry.data.code, code);
  }
  const auth = (to: string, wei: bigint, extra: Partial<Authorization> = {}, as = 'ivan', nonce = 0): Authorization => ({
    ...signRequestAs(S[as], { keyId: KEY.id, payload: { type: 'eth-tx', hex: ethTx(to, wei, nonce) }, intent: { to, amount: String(wei) } }), approvals: [], ...extra,
  });

  it('refuses everything until a policy is active', () => {
    refuses(() => g.authorize(KEY, auth(ALICE, 1n)), 'policy.none');
  });

  it('activates only a version signed by a quorum of the genesis admins', () => {
    const p1 = policy(1, [SMALL, BIG]);
    refuses(() => g.activate({ policy: p1, signatures: [] }), 'policy.unsigned');
    refuses(() => g.activate(signPolicyAs(CLUSTER, p1, [S['adm-1']])), 'policy.under_signed');
    refuses(() => g.activate(signPolicyAs(CLUSTER, p1, [S['adm-1'], S['adm-1']])), 'policy.under_signed', /1 distinct/);
    refuses(() => g.activate(signPolicyAs(CLUSTER, p1, [S['adm-1'], S.ivan])), 'policy.bad_signature', /ivan/);
    const forged = signPolicyAs(CLUSTER, p1, [S['adm-1'], S['adm-2']]);
    forged.signatures[1].signature = signPolicyAs(CLUSTER, policy(1, [SMALL]), [S['adm-2']]).signatures[0].signature;
    refuses(() => g.activate(forged), 'policy.bad_signature', /adm-2/);
    refuses(() => g.activate(signPolicyAs('d'.repeat(64), p1, [S['adm-1'], S['adm-2']])), 'policy.bad_signature', /does not verify/);
    const ok = g.activate(signPolicyAs(CLUSTER, p1, [S['adm-1'], S['adm-3']]));
    assert.deepEqual([ok.version, ok.activated], [1, true]);
    assert.equal(lastAudit().kind, 'policy.activated');
    assert.equal(g.activate(signPolicyAs(CLUSTER, p1, [S['adm-1'], S['adm-2']])).activated, false, 'the same version again is a no-op');
  });

  it('never goes back, also after a restart, and a new version needs the current admins', () => {
    refuses(() => g.activate(signPolicyAs(CLUSTER, policy(1, [{ id: 'all', match: {}, action: { type: 'allow' } }]), [S['adm-1'], S['adm-2']])), 'policy.rollback');
    // v2 drops adm-3 from the admins; v3 signed by adm-3 is then refused.
    const ids2 = people.identities.map((i) => (i.id === 'adm-3' ? { ...i, roles: ['auditor'] } : i));
    g.activate(signPolicyAs(CLUSTER, policy(2, [SMALL, BIG], { identities: ids2 }), [S['adm-1'], S['adm-2']]));
    refuses(() => g.activate(signPolicyAs(CLUSTER, policy(3, [], { identities: ids2 }), [S['adm-1'], S['adm-3']])), 'policy.bad_signature', /not a current admin/);
    // Versions come one by one: a withheld version cannot be skipped.
    refuses(() => g.activate(signPolicyAs(CLUSTER, policy(4, [SMALL, BIG], { identities: ids2 }), [S['adm-1'], S['adm-2']])), 'policy.version_gap', /activate version 3 first/);
    g = gate(); // a restart: the state comes from SQLite
    assert.equal(g.current()!.version, 2);
    refuses(() => g.activate(signPolicyAs(CLUSTER, policy(1, [SMALL, BIG]), [S['adm-1'], S['adm-2']])), 'policy.rollback');
  });

  it('checks the initiator: signature, existence and role', () => {
    now = T0 + 2 * 3600_000; // ALICE's entry, new to this node at activation, has waited out its cooldown
    const a = auth(ALICE, 1n);
    refuses(() => g.authorize(KEY, { ...a, signature: auth(ALICE, 2n).signature }), 'request.bad_signature');
    refuses(() => g.authorize(KEY, auth(ALICE, 1n, {}, 'tina')), 'request.not_initiator');
    const stranger = { ...a, request: { ...a.request, initiator: 'mallory' } };
    refuses(() => g.authorize(KEY, stranger), 'request.unknown_initiator');
    assert.equal(g.authorize(KEY, auth(ALICE, 1n, {}, 'ed-ines')).authorized.decision.rule, 'small', 'Ed25519 initiators work too');
  });

  it('a key that signs at its root refuses a derivation path (it must not satisfy an accounts rule it ignores)', () => {
    const frost: KeyFacts = { ...KEY, id: 'frosty', scheme: 'frost-ed25519' };
    const a = signRequestAs(S.ivan, { keyId: 'frosty', payload: { type: 'message', hex: '00' }, derivationPath: 'm/1/0' });
    refuses(() => g.authorize(frost, { ...a, approvals: [] }), 'derivation.unsupported');
    const bad = signRequestAs(S.ivan, { keyId: KEY.id, payload: { type: 'eth-tx', hex: ethTx(ALICE, 1n) }, intent: { to: ALICE, amount: '1' }, derivationPath: "m/44'/0" });
    refuses(() => g.authorize(KEY, { ...bad, approvals: [] }), 'derivation.hardened');
  });

  it('decodes the payload itself and refuses what does not match the intent', () => {
    const a = signRequestAs(S.ivan, { keyId: KEY.id, payload: { type: 'eth-tx', hex: ethTx(BOB, 5n) }, intent: { to: ALICE, amount: '5' } });
    refuses(() => g.authorize(KEY, { ...a, approvals: [] }), 'intent.mismatch', /to/);
  });

  it('approvals: distinct approvers in every group, bound to the request, after the timelock, before expiry', () => {
    now = T0;
    const a = auth(BOB, 5n * 10n ** 18n);
    const d = signRequestDigest(a.request);
    const reg = g.register(KEY, a);
    assert.equal(reg.decision.decision, 'approve');
    assert.equal(lastAudit().kind, 'request.received');
    now = T0 + 60_000;
    refuses(() => g.authorize(KEY, a), 'approval.insufficient');
    // tara is in both groups but counts once: tina + tara is not 2 treasury + 1 risk.
    refuses(() => g.authorize(KEY, { ...a, approvals: [approvalBy(S.tina, d), approvalBy(S.tara, d)] }), 'approval.insufficient');
    refuses(() => g.authorize(KEY, { ...a, approvals: [approvalBy(S.tina, d), approvalBy(S.tina, d), approvalBy(S.rita, d)] }), 'approval.insufficient');
    const other = signRequestDigest(auth(BOB, 5n * 10n ** 18n).request);
    refuses(() => g.authorize(KEY, { ...a, approvals: [approvalBy(S.tina, other), approvalBy(S.tom, d), approvalBy(S.rita, d)] }), 'approval.wrong_request', /replayed/);
    const forged = { ...approvalBy(S.tina, d), signature: approvalBy(S.tom, d).signature };
    refuses(() => g.authorize(KEY, { ...a, approvals: [forged, approvalBy(S.tom, d), approvalBy(S.rita, d)] }), 'approval.bad_signature', /tina/);
    refuses(() => g.authorize(KEY, { ...a, approvals: [approvalBy(S.ivan, d), approvalBy(S.tom, d), approvalBy(S.rita, d)] }), 'approval.not_approver');
    refuses(() => g.authorize(KEY, { ...a, approvals: [approvalBy(S.tina, d, 'approve', new Date(T0 + 30_000).toISOString()), approvalBy(S.tom, d), approvalBy(S.rita, d)] }), 'approval.expired');
    refuses(() => g.authorize(KEY, { ...a, approvals: [approvalBy(S.tina, d), approvalBy(S.tom, d), approvalBy(S.rita, d, 'reject')] }), 'approval.rejected');
    const good = { ...a, approvals: [approvalBy(S.tina, d), approvalBy(S.tara, d), approvalBy(S.rita, d)] };
    refuses(() => g.authorize(KEY, good), 'approval.timelock', /2026-06-01T11:00:00/);
    now = T0 + 3600_000;
    const ok = g.authorize(KEY, good);
    assert.deepEqual(ok.authorized.approvers.sort(), ['rita', 'tara', 'tina']);
    now = T0 + 86400_000;
    refuses(() => g.authorize(KEY, good), 'request.expired');
  });

  it('the timelock runs from this node\'s first sight, not from the request\'s own createdAt', () => {
    now = T0 + 10 * 86400_000;
    const a = signRequestAs(S.ivan, { keyId: KEY.id, payload: { type: 'eth-tx', hex: ethTx(BOB, 7n * 10n ** 18n) }, intent: { to: BOB, amount: String(7n * 10n ** 18n) }, createdAt: '2026-01-01T00:00:00Z' });
    const d = signRequestDigest(a.request);
    refuses(() => g.authorize(KEY, { ...a, approvals: [approvalBy(S.tina, d), approvalBy(S.tom, d), approvalBy(S.rita, d)] }), 'approval.timelock');
  });

  it('velocity: durable per-key counters, a rolling window, one event per request', () => {
    now = T0 + 20 * 86400_000;
    const first = auth(ALICE, 1n, {}, 'ivan', 1);
    const r1 = g.authorize(KEY, first);
    store.tx(() => r1.commit());
    const again = g.authorize(KEY, first);
    store.tx(() => again.commit()); // a retry of the same request does not count again
    const r2 = g.authorize(KEY, auth(ALICE, 2n, {}, 'ivan', 2));
    store.tx(() => r2.commit());
    refuses(() => g.authorize(KEY, auth(ALICE, 3n, {}, 'ivan', 3)), 'policy.denied');
    assert.match(JSON.stringify(lastAudit().data), /count 3 over 3600s would exceed 2 \(this node's share/);
    g = gate(); // counters survive a restart
    refuses(() => g.authorize(KEY, auth(ALICE, 3n, {}, 'ed-ines', 3)), 'policy.denied');
    now += 3600_000 + 1;
    assert.equal(g.authorize(KEY, auth(ALICE, 3n, {}, 'ivan', 3)).authorized.decision.rule, 'small');
  });

  it('velocity rules are refused where two quorums need not share a node (2t <= n), with the reason', () => {
    keys = [KEY, WIDE];
    refuses(() => g.activate(signPolicyAs(CLUSTER, policy(3, [SMALL]), [S['adm-1'], S['adm-2']])), 'policy.velocity_unsound', /key wide.*2t = 4 <= n/);
    // Scoped to the 2-of-3 key, the same rule is fine.
    g.activate(signPolicyAs(CLUSTER, policy(3, [{ ...SMALL, match: { ...SMALL.match, keys: ['treasury'] } }, { id: 'rest', match: {}, action: { type: 'allow' } }]), [S['adm-1'], S['adm-2']]));
    keys = [KEY];
  });

  it('a new destination waits out its cooldown on the node\'s clock, however early its addedAt says it was added', () => {
    now = T0 + 40 * 86400_000;
    const p4 = policy(4, [{ id: 'to-list', match: { keys: ['treasury'], destination: { list: 'cp' } }, action: { type: 'allow' } }], {
      addressLists: [{ id: 'cp', cooldownSeconds: 3600, entries: [{ address: ALICE, addedAt: '2026-01-01T00:00:00Z' }, { address: BOB, addedAt: '2020-01-01T00:00:00Z' }] }],
    });
    g.activate(signPolicyAs(CLUSTER, p4, [S['adm-1'], S['adm-2']]));
    assert.equal(g.authorize(KEY, auth(ALICE, 9n, {}, 'ivan', 9)).authorized.decision.rule, 'to-list', 'an entry already listed keeps its time');
    refuses(() => g.authorize(KEY, auth(BOB, 9n, {}, 'ivan', 9)), 'policy.denied');
    now += 3600_000;
    assert.equal(g.authorize(KEY, auth(BOB, 9n, {}, 'ivan', 9)).authorized.decision.rule, 'to-list');
  });

  it('the dry run agrees with the real decision', () => {
    for (const [to, wei] of [[ALICE, 1n], [BOB, 9n], ['0x3333333333333333333333333333333333333333', 1n]] as const) {
      const a = auth(to, wei, {}, 'ivan', 42);
      const dry = g.dryRun(KEY, { request: a.request });
      let real: string;
      try {
        real = g.authorize(KEY, a).authorized.decision.decision;
      } catch (e: any) {
        real = e.code === 'policy.denied' ? 'deny' : e.code;
      }
      assert.equal(real, dry.decision.decision, `${to}: dry run ${dry.decision.decision}, real ${real}`);
    }
  });
});

describe('NodePolicy for a cold key (an offline node in every quorum)', () => {
  // 2-of-4: two quorums need not share a node, except the cold party that is in all of them.
  const COLD: KeyFacts = { ...WIDE, id: 'cold', required: ['node-4'] };
  const rule = { ...SMALL, id: 'cold-small', match: { ...SMALL.match, keys: ['cold'] } };
  const run = (self: string, expectAllowed: number) => {
    const dir = mkdtempSync(join(tmpdir(), 'custos-gate-cold-'));
    const store = new NodeStore(join(dir, 'node.db'));
    try {
      const ks = new SoftwareKeystore();
      const audit = new NodeAudit(store, self, (m) => ks.signIdentity(m));
      let now = T0 + 50 * 86400_000;
      const g = new NodePolicy({ store, audit, cluster: CLUSTER, log: jsonLogger('test', () => {}), now: () => new Date(now), keys: () => [COLD], self, genesisAdmins: { threshold: 2, identities: people.identities.filter((i) => i.roles.includes('admin')) } });
      // Activation of a velocity rule on a 2-of-4 key is sound here: the cold party sees every request.
      g.activate(signPolicyAs(CLUSTER, policy(1, [rule]), [S['adm-1'], S['adm-2']]));
      now += 2 * 3600_000; // past the destination's cooldown, which runs from this activation
      let allowed = 0;
      for (let i = 0; i < 5; i++) {
        const a = { ...signRequestAs(S.ivan, { keyId: COLD.id, payload: { type: 'eth-tx', hex: ethTx(ALICE, 1n, 100 + i) }, intent: { to: ALICE, amount: '1' } }), approvals: [] };
        try { const r = g.authorize(COLD, a); store.tx(() => r.commit()); allowed++; } catch (e: any) { assert.equal(e.code, 'policy.denied'); }
      }
      assert.equal(allowed, expectAllowed);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
  it('the offline node enforces the whole limit (3 an hour); an online node its share (3 * 2/4, so 1)', () => {
    run('node-4', 3);
    run('node-1', 1);
  });
});
