import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePolicy, type Match } from '../../src/policy/document.ts';
import { makeIdentities } from '../support/identities.ts';
import { evaluate, type EvaluationContext, type PolicyRequest, type VelocityLookup } from '../../src/policy/evaluate.ts';

const NOW = new Date('2026-06-01T12:00:00Z');
const NONE: VelocityLookup = () => ({ total: 0n, count: 0 });
const ctx = (now = NOW, velocity = NONE): EvaluationContext => ({ now, velocity });

const PEOPLE = makeIdentities({ t1: ['approver'], t2: ['approver'], t3: ['approver'], r1: ['approver'], tina: ['approver'], tom: ['approver'], tara: ['approver'], rita: ['approver'], ivan: ['initiator'], eve: ['initiator'], root: ['admin'] }).identities;

const BASE = {
  version: 1,
  identities: PEOPLE,
  adminThreshold: 1,
  assets: [
    { id: 'eth', chain: 'ethereum', contract: null, decimals: 18 },
    { id: 'usdc', chain: 'ethereum', contract: '0xa0b8', decimals: 6 },
    { id: 'btc', chain: 'bitcoin', decimals: 8 },
  ],
  addressLists: [
    {
      id: 'allow',
      cooldownSeconds: 3600,
      entries: [
        { address: '0xAAaa', addedAt: '2026-05-01T00:00:00Z' },
        { address: '0xnew', addedAt: '2026-06-01T11:30:00Z' },
      ],
    },
  ],
  groups: [
    { id: 'treasury', members: ['t1', 't2', 't3'] },
    { id: 'risk', members: ['r1'] },
  ],
};

/** A policy with one rule matching `match` and allowing, used to test one clause at a time. */
function single(match: Match) {
  return parsePolicy({ ...BASE, rules: [{ id: 'r', match, action: { type: 'allow' } }] });
}

const REQ: PolicyRequest = { keyId: 'k1', account: 0, chain: 'ethereum', asset: 'eth', txType: 'transfer', to: '0xaaaa', amount: '100', initiator: 'ivan' };

function check(match: Match, req: Partial<PolicyRequest>, expected: 'allow' | 'deny', c = ctx()): string[] {
  const d = evaluate(single(match), { ...REQ, ...req }, c);
  assert.equal(d.decision, expected, d.reasons.join('; '));
  assert.equal(d.rule, expected === 'allow' ? 'r' : null);
  return d.reasons;
}

describe('evaluate: each clause', () => {
  it('empty match matches anything', () => {
    check({}, {}, 'allow');
  });
  it('keys', () => {
    check({ keys: ['k1', 'k2'] }, {}, 'allow');
    const r = check({ keys: ['k2'] }, {}, 'deny');
    assert.match(r[0], /^rule r: key k1 not in k2$/);
  });
  it('accounts', () => {
    check({ accounts: [0] }, {}, 'allow');
    check({ accounts: [1] }, {}, 'deny');
    assert.match(check({ accounts: [0] }, { account: undefined }, 'deny')[0], /no account/);
  });
  it('chains and assets', () => {
    check({ chains: ['ethereum'], assets: ['eth', 'usdc'] }, {}, 'allow');
    check({ chains: ['bitcoin'] }, {}, 'deny');
    assert.match(check({ assets: ['usdc'] }, {}, 'deny')[0], /asset eth not in usdc/);
  });
  it('txTypes', () => {
    check({ txTypes: ['transfer', 'contract-call'] }, {}, 'allow');
    check({ txTypes: ['raw-digest'] }, {}, 'deny');
    check({ txTypes: ['raw-digest'] }, { txType: 'raw-digest' }, 'allow');
    // Raw signing, contract calls and typed data are opt-in: a rule without txTypes never matches them.
    assert.match(check({}, { txType: 'raw-digest' }, 'deny')[0], /raw-digest needs a rule that lists it in txTypes/);
    assert.match(check({ keys: ['k1'] }, { txType: 'raw-message' }, 'deny')[0], /raw-message needs a rule/);
    assert.match(check({ assets: ['eth'] }, { txType: 'contract-call', amount: '0' }, 'deny')[0], /contract-call needs a rule/);
    assert.match(check({}, { txType: 'typed-data' }, 'deny')[0], /typed-data needs a rule/);
    check({ txTypes: ['typed-data'] }, { txType: 'typed-data' }, 'allow');
    check({}, { txType: 'transfer' }, 'allow');
  });
  it('transaction fees: every transaction needs its chain\'s fee cap', () => {
    const withCap = parsePolicy({ ...BASE, assets: [{ id: 'eth', chain: 'ethereum', contract: null, decimals: 18, maxFee: '1000' }], rules: [{ id: 'r', match: {}, action: { type: 'allow' } }] });
    assert.equal(evaluate(withCap, { ...REQ, maxFee: '1000' }, ctx()).decision, 'allow');
    const over = evaluate(withCap, { ...REQ, maxFee: '1001' }, ctx());
    assert.deepEqual([over.decision, over.rule], ['deny', null]);
    assert.match(over.reasons[0], /up to 1001 in fees, above the cap 1000 of asset eth/);
    const noCap = evaluate(single({}), { ...REQ, maxFee: '1' }, ctx());
    assert.equal(noCap.decision, 'deny');
    assert.match(noCap.reasons[0], /caps no fees there/);
    assert.equal(evaluate(single({}), REQ, ctx()).decision, 'allow', 'requests without a fee (messages) are not affected');
  });
  it('initiators', () => {
    check({ initiators: ['ivan'] }, {}, 'allow');
    assert.match(check({ initiators: ['eve'] }, {}, 'deny')[0], /initiator ivan/);
  });
  it('amountMin and amountMax are inclusive', () => {
    check({ amountMin: '100', amountMax: '100' }, {}, 'allow');
    assert.match(check({ amountMax: '99' }, {}, 'deny')[0], /above 99/);
    assert.match(check({ amountMin: '101' }, {}, 'deny')[0], /below 101/);
  });
  it('amounts compare as BigInt beyond 2^53', () => {
    // 2^53 + 1 and 2^53 are equal as Numbers; a Number comparison would let this through.
    const max = '9007199254740992';
    check({ amountMax: max }, { amount: max }, 'allow');
    check({ amountMax: max }, { amount: '9007199254740993' }, 'deny');
    const huge = '1000000000000000000000000000000';
    check({ amountMax: huge }, { amount: '999999999999999999999999999999' }, 'allow');
    check({ amountMax: huge }, { amount: '1000000000000000000000000000001' }, 'deny');
  });
  it('refuses a malformed request amount instead of throwing', () => {
    const d = evaluate(single({}), { ...REQ, amount: '1.5' }, ctx());
    assert.equal(d.decision, 'deny');
    assert.equal(d.rule, null);
  });
});

describe('evaluate: destination lists and cooldown', () => {
  it('matches an aged entry case-insensitively', () => {
    check({ destination: { list: 'allow' } }, { to: '0xAAAA' }, 'allow');
  });
  it('does not match an address outside the list, or a request without destination', () => {
    assert.match(check({ destination: { list: 'allow' } }, { to: '0xbbbb' }, 'deny')[0], /not in list allow/);
    assert.match(check({ destination: { list: 'allow' } }, { to: undefined }, 'deny')[0], /no destination/);
  });
  it('a new entry is in cooldown until addedAt + cooldownSeconds', () => {
    const reasons = check({ destination: { list: 'allow' } }, { to: '0xnew' }, 'deny', ctx(new Date('2026-06-01T12:29:59Z')));
    assert.match(reasons[0], /in cooldown until 2026-06-01T12:30:00.000Z/);
    check({ destination: { list: 'allow' } }, { to: '0xnew' }, 'allow', ctx(new Date('2026-06-01T12:30:00Z')));
  });
});

describe('evaluate: time windows (UTC)', () => {
  const at = (hhmm: string) => ctx(new Date(`2026-06-01T${hhmm}:00Z`));
  it('plain window is [from, to)', () => {
    const w = { timeWindows: [{ fromMinute: 9 * 60, toMinute: 17 * 60 }] };
    check(w, {}, 'allow', at('09:00'));
    check(w, {}, 'allow', at('16:59'));
    check(w, {}, 'deny', at('17:00'));
    assert.match(check(w, {}, 'deny', at('08:59'))[0], /UTC minute 539 outside/);
  });
  it('window across midnight', () => {
    const w = { timeWindows: [{ fromMinute: 22 * 60, toMinute: 6 * 60 }] };
    check(w, {}, 'allow', at('23:30'));
    check(w, {}, 'allow', at('00:00'));
    check(w, {}, 'allow', at('05:59'));
    check(w, {}, 'deny', at('06:00'));
    check(w, {}, 'deny', at('12:00'));
    check(w, {}, 'deny', at('21:59'));
  });
  it('any of several windows', () => {
    const w = { timeWindows: [{ fromMinute: 0, toMinute: 60 }, { fromMinute: 720, toMinute: 1440 }] };
    check(w, {}, 'allow', at('12:00'));
    check(w, {}, 'allow', at('00:30'));
    check(w, {}, 'deny', at('06:00'));
  });
});

describe('evaluate: velocity', () => {
  /** A fake node store: per-key and per-initiator counters, recording which windows were asked. */
  function counters(key: { total: bigint; count: number }, initiator: { total: bigint; count: number }) {
    const asked: string[] = [];
    const lookup: VelocityLookup = (per, windowSeconds) => {
      asked.push(`${per}/${windowSeconds}`);
      return per === 'key' ? key : initiator;
    };
    return { lookup, asked };
  }

  it('per key: counts the current request towards maxTotal', () => {
    const m: Match = { velocity: [{ windowSeconds: 86400, maxTotal: '1000', per: 'key' }] };
    const ok = counters({ total: 900n, count: 3 }, { total: 0n, count: 0 });
    check(m, { amount: '100' }, 'allow', ctx(NOW, ok.lookup));
    assert.deepEqual(ok.asked, ['key/86400']);
    const over = counters({ total: 901n, count: 3 }, { total: 0n, count: 0 });
    assert.match(check(m, { amount: '100' }, 'deny', ctx(NOW, over.lookup))[0], /per-key total 1001 over 86400s would exceed 1000/);
  });

  it('per initiator: counts the current request towards maxCount', () => {
    const m: Match = { velocity: [{ windowSeconds: 3600, maxCount: 5, per: 'initiator' }] };
    check(m, {}, 'allow', ctx(NOW, counters({ total: 0n, count: 99 }, { total: 0n, count: 4 }).lookup));
    const d = counters({ total: 0n, count: 0 }, { total: 0n, count: 5 });
    assert.match(check(m, {}, 'deny', ctx(NOW, d.lookup))[0], /per-initiator count 6/);
    assert.deepEqual(d.asked, ['initiator/3600']);
  });

  it('large totals compare as BigInt', () => {
    const m: Match = { velocity: [{ windowSeconds: 60, maxTotal: '100000000000000000000', per: 'key' }] };
    const c = counters({ total: 99999999999999999999n, count: 0 }, { total: 0n, count: 0 });
    check(m, { amount: '1' }, 'allow', ctx(NOW, c.lookup));
    check(m, { amount: '2' }, 'deny', ctx(NOW, c.lookup));
  });

  it('an allow rule whose velocity is exceeded falls through to a later approve rule', () => {
    const policy = parsePolicy({
      ...BASE,
      rules: [
        { id: 'daily-allow', match: { velocity: [{ windowSeconds: 86400, maxTotal: '1000', per: 'key' }, { windowSeconds: 86400, maxCount: 3, per: 'initiator' }] }, action: { type: 'allow' } },
        { id: 'needs-ok', match: {}, action: { type: 'approve', groups: [{ group: 'risk', threshold: 1 }], timelockSeconds: 0, expirySeconds: 600 } },
      ],
    });
    const under = evaluate(policy, REQ, ctx(NOW, counters({ total: 100n, count: 1 }, { total: 100n, count: 1 }).lookup));
    assert.equal(under.decision, 'allow');
    assert.equal(under.rule, 'daily-allow');

    const overTotal = evaluate(policy, { ...REQ, amount: '901' }, ctx(NOW, counters({ total: 100n, count: 1 }, { total: 100n, count: 1 }).lookup));
    assert.equal(overTotal.decision, 'approve');
    assert.equal(overTotal.rule, 'needs-ok');
    assert.match(overTotal.reasons[0], /^rule daily-allow: per-key total 1001/);

    const overCount = evaluate(policy, REQ, ctx(NOW, counters({ total: 0n, count: 0 }, { total: 0n, count: 3 }).lookup));
    assert.equal(overCount.rule, 'needs-ok');
    assert.match(overCount.reasons[0], /per-initiator count 4/);
  });
});

describe('evaluate: order and defaults', () => {
  const policy = parsePolicy({
    ...BASE,
    rules: [
      { id: 'no-raw', match: { txTypes: ['raw-digest'] }, action: { type: 'block' } },
      { id: 'eth-small', match: { assets: ['eth'], amountMax: '10' }, action: { type: 'allow' } },
      { id: 'eth-any', match: { assets: ['eth'] }, action: { type: 'approve', groups: [{ group: 'treasury', threshold: 2 }], timelockSeconds: 60, expirySeconds: 600 } },
      { id: 'eth-small-later', match: { assets: ['eth'], amountMax: '10' }, action: { type: 'block' } },
    ],
  });

  it('first match wins even when a later rule also matches', () => {
    const d = evaluate(policy, { ...REQ, amount: '5' }, ctx());
    assert.deepEqual(d, { decision: 'allow', rule: 'eth-small', reasons: ['rule no-raw: type transfer not in raw-digest', 'rule eth-small: matched, allow'] });
  });

  it('block yields deny with the rule id', () => {
    const d = evaluate(policy, { ...REQ, txType: 'raw-digest', amount: '5' }, ctx());
    assert.equal(d.decision, 'deny');
    assert.equal(d.rule, 'no-raw');
    assert.equal(d.approvals, undefined);
  });

  it('approve carries the groups, timelock and expiry, and one reason per skipped rule', () => {
    const d = evaluate(policy, { ...REQ, amount: '11' }, ctx());
    assert.equal(d.decision, 'approve');
    assert.equal(d.rule, 'eth-any');
    assert.deepEqual(d.approvals, { groups: [{ group: 'treasury', threshold: 2 }], timelockSeconds: 60, expirySeconds: 600 });
    assert.equal(d.reasons.length, 3);
    assert.match(d.reasons[1], /eth-small: amount 11 above 10/);
  });

  it('default deny when nothing matches, with a reason per rule', () => {
    const d = evaluate(policy, { ...REQ, asset: 'usdc' }, ctx());
    assert.equal(d.decision, 'deny');
    assert.equal(d.rule, null);
    assert.equal(d.reasons.length, 5);
    assert.equal(d.reasons.at(-1), 'no rule matched');
  });

  it('an empty policy denies everything', () => {
    const d = evaluate(parsePolicy({ ...BASE, rules: [] }), REQ, ctx());
    assert.deepEqual(d, { decision: 'deny', rule: null, reasons: ['no rule matched'] });
  });
});

describe('evaluate: treasury worked example (issue 4 README)', () => {
  // USDC, 6 decimals: "small" is up to 10,000 USDC per transfer and 50,000 USDC per key per day,
  // only to allowlisted addresses; anything else that is a transfer needs 2-of-3 treasury plus
  // 1 risk officer after a 1-hour timelock; everything else is denied by default.
  const treasury = parsePolicy({
    version: 7,
    identities: PEOPLE,
    adminThreshold: 1,
    assets: [{ id: 'usdc', chain: 'ethereum', contract: '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48', decimals: 6 }],
    addressLists: [{
      id: 'counterparties',
      cooldownSeconds: 86400,
      entries: [
        { address: '0x1111111111111111111111111111111111111111', addedAt: '2026-01-10T09:00:00Z' },
        { address: '0x2222222222222222222222222222222222222222', addedAt: '2026-06-01T08:00:00Z' },
      ],
    }],
    groups: [
      { id: 'treasury-approvers', members: ['tina', 'tom', 'tara'] },
      { id: 'risk-officers', members: ['rita'] },
    ],
    rules: [
      {
        id: 'small-to-allowlist',
        match: {
          keys: ['treasury-hot'], assets: ['usdc'], txTypes: ['transfer'], destination: { list: 'counterparties' },
          amountMax: '10000000000', velocity: [{ windowSeconds: 86400, maxTotal: '50000000000', per: 'key' }],
        },
        action: { type: 'allow' },
      },
      {
        id: 'large-needs-approval',
        match: { keys: ['treasury-hot'], assets: ['usdc'], txTypes: ['transfer'] },
        action: {
          type: 'approve',
          groups: [{ group: 'treasury-approvers', threshold: 2 }, { group: 'risk-officers', threshold: 1 }],
          timelockSeconds: 3600,
          expirySeconds: 86400,
        },
      },
    ],
  });
  const req = (over: Partial<PolicyRequest>): PolicyRequest => ({
    keyId: 'treasury-hot', chain: 'ethereum', asset: 'usdc', txType: 'transfer',
    to: '0x1111111111111111111111111111111111111111', amount: '2500000000', initiator: 'ops-bot', ...over,
  });
  const day = (spent: bigint): VelocityLookup => (per) => (per === 'key' ? { total: spent, count: 3 } : { total: 0n, count: 0 });
  const twoPlusOne = { groups: [{ group: 'treasury-approvers', threshold: 2 }, { group: 'risk-officers', threshold: 1 }], timelockSeconds: 3600, expirySeconds: 86400 };

  it('2,500 USDC to an allowlisted counterparty is auto-approved', () => {
    const d = evaluate(treasury, req({}), ctx(NOW, day(0n)));
    assert.equal(d.decision, 'allow');
    assert.equal(d.rule, 'small-to-allowlist');
  });

  it('250,000 USDC needs 2-of-3 treasury plus 1 risk officer after 1 hour', () => {
    const d = evaluate(treasury, req({ amount: '250000000000' }), ctx(NOW, day(0n)));
    assert.equal(d.decision, 'approve');
    assert.equal(d.rule, 'large-needs-approval');
    assert.deepEqual(d.approvals, twoPlusOne);
    assert.match(d.reasons[0], /amount 250000000000 above 10000000000/);
  });

  it('a small transfer to an unlisted address needs approval', () => {
    const d = evaluate(treasury, req({ to: '0x9999999999999999999999999999999999999999' }), ctx(NOW, day(0n)));
    assert.equal(d.rule, 'large-needs-approval');
    assert.match(d.reasons[0], /not in list counterparties/);
  });

  it('a counterparty added this morning is still in its 24h cooldown', () => {
    const to = '0x2222222222222222222222222222222222222222';
    const d = evaluate(treasury, req({ to }), ctx(NOW, day(0n)));
    assert.equal(d.decision, 'approve');
    assert.match(d.reasons[0], /in cooldown until 2026-06-02T08:00:00.000Z/);
    const tomorrow = evaluate(treasury, req({ to }), ctx(new Date('2026-06-02T08:00:00Z'), day(0n)));
    assert.equal(tomorrow.decision, 'allow');
  });

  it('once the daily budget is used up, small transfers need approval too', () => {
    assert.equal(evaluate(treasury, req({}), ctx(NOW, day(47500000000n))).decision, 'allow');
    const d = evaluate(treasury, req({}), ctx(NOW, day(47500000001n)));
    assert.equal(d.decision, 'approve');
    assert.deepEqual(d.approvals, twoPlusOne);
  });

  it('another key, or a raw digest, is denied by default', () => {
    assert.equal(evaluate(treasury, req({ keyId: 'cold' }), ctx()).decision, 'deny');
    const raw = evaluate(treasury, req({ txType: 'raw-digest' }), ctx());
    assert.equal(raw.decision, 'deny');
    assert.equal(raw.rule, null);
  });
});

describe('address comparison', () => {
  it('ignores case for EVM hex and bech32 addresses, but not for base58 ones', async () => {
    const { parsePolicy } = await import('../../src/policy/document.ts');
    const { evaluate } = await import('../../src/policy/evaluate.ts');
    const policy = parsePolicy({
      version: 1,
      identities: PEOPLE,
      adminThreshold: 1,
      assets: [{ id: 'x', chain: 'any', decimals: 0 }],
      addressLists: [{ id: 'l', cooldownSeconds: 0, entries: [
        { address: '0xAbCdEf0000000000000000000000000000000001', addedAt: '2026-01-01T00:00:00Z' },
        { address: 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq', addedAt: '2026-01-01T00:00:00Z' },
        { address: '1BoatSLRHtKNngkdXEeobR76b53LETtpyT', addedAt: '2026-01-01T00:00:00Z' },
      ] }],
      groups: [],
      rules: [{ id: 'to-list', match: { destination: { list: 'l' } }, action: { type: 'allow' } }],
    });
    const ctx = { now: new Date('2026-06-01T00:00:00Z'), velocity: () => ({ total: 0n, count: 0 }) };
    const req = (to: string) => evaluate(policy, { keyId: 'k', chain: 'any', asset: 'x', txType: 'transfer', to, amount: '1', initiator: 'i' }, ctx).decision;
    assert.equal(req('0xabcdef0000000000000000000000000000000001'), 'allow');
    assert.equal(req('BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ'), 'allow');
    assert.equal(req('1BoatSLRHtKNngkdXEeobR76b53LETtpyT'), 'allow');
    assert.equal(req('1boatslrhtknngkdxeeobr76b53lettpyt'), 'deny', 'base58 is case-sensitive');
  });
});

describe('velocity across quorums: each node enforces its share of a limit', () => {
  // Three nodes keep their own counters; a request is signed when every member of its 2-of-3
  // quorum allows it, and then counted by each of them. A hostile coordinator rotates quorums.
  const quorums = [[0, 1], [1, 2], [0, 2]];
  function signedUnder(clause: { maxCount?: number; maxTotal?: string }, route: (i: number) => number[], amount = 1n, tries = 30): number {
    const policy = parsePolicy({ ...BASE, rules: [{ id: 'v', match: { velocity: [{ windowSeconds: 3600, per: 'key', ...clause }] }, action: { type: 'allow' } }] });
    const counters = [0, 1, 2].map(() => ({ count: 0, total: 0n }));
    let signed = 0;
    for (let i = 0; i < tries; i++) {
      const q = route(i);
      const ok = q.every((n) => evaluate(policy, { ...REQ, amount: String(amount) }, { now: NOW, velocity: () => counters[n], velocityShare: { threshold: 2, parties: 3 } }).decision === 'allow');
      if (!ok) continue;
      signed++;
      for (const n of q) { counters[n].count++; counters[n].total += amount; }
    }
    return signed;
  }
  it('no routing gets more than maxCount signatures; one fixed quorum still gets at least one', () => {
    for (const maxCount of [1, 2, 3, 4, 5, 10]) {
      const rotated = signedUnder({ maxCount }, (i) => quorums[i % 3]);
      const fixed = signedUnder({ maxCount }, () => quorums[0]);
      assert.ok(rotated <= maxCount, `maxCount ${maxCount}: ${rotated} signed by rotating quorums`);
      assert.ok(fixed >= 1 && fixed <= maxCount, `maxCount ${maxCount}: ${fixed} signed on one quorum`);
    }
  });
  it('no routing gets more than maxTotal signed', () => {
    for (const maxTotal of [10n, 25n, 50n]) {
      const rotated = signedUnder({ maxTotal: String(maxTotal) }, (i) => quorums[i % 3], 5n);
      assert.ok(BigInt(rotated) * 5n <= maxTotal, `maxTotal ${maxTotal}: ${rotated * 5} signed`);
    }
  });
  it('without the share (counters seen whole), the limit applies as written', () => {
    const policy = parsePolicy({ ...BASE, rules: [{ id: 'v', match: { velocity: [{ windowSeconds: 3600, per: 'key', maxCount: 2 }] }, action: { type: 'allow' } }] });
    assert.equal(evaluate(policy, REQ, { now: NOW, velocity: () => ({ count: 1, total: 0n }) }).decision, 'allow');
    assert.equal(evaluate(policy, REQ, { now: NOW, velocity: () => ({ count: 1, total: 0n }), velocityShare: { threshold: 2, parties: 3 } }).decision, 'deny');
  });
});
