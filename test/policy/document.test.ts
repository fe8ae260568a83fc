import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../../src/common/errors.ts';
import { parsePolicy } from '../../src/policy/document.ts';
import { makeIdentities } from '../support/identities.ts';

const PEOPLE = makeIdentities({ alice: ['approver'], bob: ['approver'], carol: ['approver', 'admin'], ivan: ['initiator'], root: ['admin'] }).identities;

function valid(): Record<string, any> {
  return {
    version: 3,
    identities: structuredClone(PEOPLE),
    adminThreshold: 2,
    assets: [
      { id: 'eth', chain: 'ethereum', contract: null, decimals: 18 },
      { id: 'usdc', chain: 'ethereum', contract: '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48', decimals: 6 },
    ],
    addressLists: [{ id: 'allow', entries: [{ address: '0xabc', addedAt: '2026-01-01T00:00:00Z' }], cooldownSeconds: 86400 }],
    groups: [{ id: 'treasury', members: ['alice', 'bob', 'carol'] }],
    rules: [
      {
        id: 'small',
        match: {
          keys: ['k1'], accounts: [0, 1], chains: ['ethereum'], assets: ['eth'], txTypes: ['transfer'],
          destination: { list: 'allow' }, amountMin: '0', amountMax: '1000',
          velocity: [{ windowSeconds: 86400, maxTotal: '5000', maxCount: 10, per: 'key' }],
          timeWindows: [{ fromMinute: 1320, toMinute: 360 }], initiators: ['ivan'],
        },
        action: { type: 'allow' },
      },
      { id: 'big', match: {}, action: { type: 'approve', groups: [{ group: 'treasury', threshold: 2 }], timelockSeconds: 3600, expirySeconds: 86400 } },
      { id: 'raw', match: { txTypes: ['raw-digest'] }, action: { type: 'block' } },
    ],
  };
}

function rejects(mutate: (p: Record<string, any>) => unknown, path: string, message?: RegExp): void {
  const p = valid();
  const replaced = mutate(p);
  const input = replaced === undefined ? p : replaced;
  assert.throws(() => parsePolicy(input), (e: unknown) => {
    assert.ok(e instanceof ValidationError, `not a ValidationError: ${String(e)}`);
    assert.equal(e.code, 'policy.invalid');
    assert.equal(e.detail?.path, path);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('parsePolicy', () => {
  it('accepts a complete policy and keeps every field', () => {
    const p = parsePolicy(valid());
    assert.equal(p.version, 3);
    assert.equal(p.assets[1].contract, '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48');
    assert.equal(p.rules.length, 3);
    assert.deepEqual(p.rules[0].match.velocity, [{ windowSeconds: 86400, maxTotal: '5000', maxCount: 10, per: 'key' }]);
    assert.deepEqual(p.rules[1].action, { type: 'approve', groups: [{ group: 'treasury', threshold: 2 }], timelockSeconds: 3600, expirySeconds: 86400 });
  });

  it('treats an absent contract as null', () => {
    const v = valid();
    delete v.assets[0].contract;
    assert.equal(parsePolicy(v).assets[0].contract, null);
  });

  it('rejects non-objects and bad versions', () => {
    rejects(() => null, '$');
    rejects(() => [], '$');
    rejects((p) => { p.version = 0; }, '$.version');
    rejects((p) => { p.version = 1.5; }, '$.version');
    rejects((p) => { p.version = '1'; }, '$.version');
  });

  it('rejects unknown fields with their path', () => {
    rejects((p) => { p.extra = 1; }, '$.extra', /unknown field/);
    rejects((p) => { p.rules[0].match.amount = '1'; }, '$.rules[0].match.amount', /unknown field/);
    rejects((p) => { p.rules[0].action.groups = []; }, '$.rules[0].action.groups', /unknown field/);
  });

  it('checks asset decimals 0..36', () => {
    rejects((p) => { p.assets[0].decimals = 37; }, '$.assets[0].decimals');
    rejects((p) => { p.assets[0].decimals = -1; }, '$.assets[0].decimals');
    const v = valid();
    v.assets[0].decimals = 36;
    assert.equal(parsePolicy(v).assets[0].decimals, 36);
  });

  it('carries identities and the admin threshold, with members and initiators that hold their roles', () => {
    const p = parsePolicy(valid());
    assert.equal(p.identities.length, 5);
    assert.equal(p.adminThreshold, 2);
    rejects((x) => { x.adminThreshold = 3; }, '$.adminThreshold', /admin role \(2\)/);
    rejects((x) => { delete x.adminThreshold; }, '$.adminThreshold');
    rejects((x) => { x.groups[0].members[1] = 'ivan'; }, '$.groups[0].members[1]', /approver role/);
    rejects((x) => { x.groups[0].members[1] = 'nobody'; }, '$.groups[0].members[1]', /approver role/);
    rejects((x) => { x.rules[0].match.initiators = ['alice']; }, '$.rules[0].match.initiators[0]', /initiator role/);
    rejects((x) => { x.identities.push({ ...x.identities[0] }); }, '$.identities[5].id', /duplicate/);
    rejects((x) => { x.identities[0].publicKey = '02' + 'ff'.repeat(32); }, '$.identities[0].publicKey', /valid point/);
    rejects((x) => { x.identities[1].roles = ['root']; }, '$.identities[1].roles');
    rejects((x) => { x.identities[1].publicKey = x.identities[0].publicKey; }, '$.identities[1].publicKey', /also the key of "alice"/);
    rejects((x) => { x.assets[1].maxFee = '5'; }, '$.assets[1].maxFee', /native asset/);
    rejects((x) => { x.rules[1].action.timelockSeconds = 10 ** 12; }, '$.rules[1].action.timelockSeconds');
    assert.equal(parsePolicy({ ...valid(), assets: [{ id: 'eth', chain: 'ethereum', contract: null, decimals: 18, maxFee: '10' }, valid().assets[1]] }).assets[0].maxFee, '10');
  });

  it('rejects duplicate ids', () => {
    rejects((p) => { p.assets[1].id = 'eth'; }, '$.assets[1].id', /duplicate/);
    rejects((p) => { p.addressLists.push({ ...p.addressLists[0] }); }, '$.addressLists[1].id', /duplicate/);
    rejects((p) => { p.groups.push({ id: 'treasury', members: ['bob'] }); }, '$.groups[1].id', /duplicate/);
    rejects((p) => { p.rules[2].id = 'small'; }, '$.rules[2].id', /duplicate/);
    rejects((p) => { p.groups[0].members.push('alice'); }, '$.groups[0].members[3]', /duplicate/);
  });

  it('rejects dangling references', () => {
    rejects((p) => { p.rules[0].match.assets = ['btc']; }, '$.rules[0].match.assets[0]', /unknown asset/);
    rejects((p) => { p.rules[0].match.destination = { list: 'nope' }; }, '$.rules[0].match.destination.list', /unknown address list/);
    rejects((p) => { p.rules[1].action.groups[0].group = 'risk'; }, '$.rules[1].action.groups[0].group', /unknown group/);
  });

  it('rejects a threshold larger than its group', () => {
    rejects((p) => { p.rules[1].action.groups[0].threshold = 4; }, '$.rules[1].action.groups[0].threshold', /exceeds/);
    rejects((p) => { p.rules[1].action.groups[0].threshold = 0; }, '$.rules[1].action.groups[0].threshold');
  });

  it('rejects malformed base-unit amounts', () => {
    for (const bad of ['-1', '1.5', '1e3', '01', '', ' 1', 1000]) {
      rejects((p) => { p.rules[0].match.amountMax = bad; }, '$.rules[0].match.amountMax');
    }
    rejects((p) => { p.rules[0].match.velocity[0].maxTotal = '0x10'; }, '$.rules[0].match.velocity[0].maxTotal');
    rejects((p) => { p.rules[0].match.amountMin = '2000'; }, '$.rules[0].match.amountMin', /amountMax/);
  });

  it('accepts amounts beyond 2^53', () => {
    const v = valid();
    v.rules[0].match.amountMax = '123456789012345678901234567890';
    assert.equal(parsePolicy(v).rules[0].match.amountMax, '123456789012345678901234567890');
  });

  it('validates txTypes, velocity, time windows and actions', () => {
    rejects((p) => { p.rules[0].match.txTypes = ['transfer', 'swap']; }, '$.rules[0].match.txTypes[1]');
    rejects((p) => { p.rules[0].match.velocity[0].per = 'node'; }, '$.rules[0].match.velocity[0].per');
    rejects((p) => { p.rules[0].match.velocity[0] = { windowSeconds: 60, per: 'key' }; }, '$.rules[0].match.velocity[0]', /maxTotal or maxCount/);
    rejects((p) => { p.rules[0].match.timeWindows[0].fromMinute = 1440; }, '$.rules[0].match.timeWindows[0].fromMinute');
    rejects((p) => { p.rules[0].match.timeWindows[0].toMinute = 1320; }, '$.rules[0].match.timeWindows[0]', /empty/);
    rejects((p) => { p.rules[0].match.keys = []; }, '$.rules[0].match.keys', /empty/);
    rejects((p) => { p.rules[0].action = { type: 'maybe' }; }, '$.rules[0].action.type');
    rejects((p) => { p.rules[0].action = 'allow'; }, '$.rules[0].action');
    rejects((p) => { p.rules[1].action.expirySeconds = 0; }, '$.rules[1].action.expirySeconds');
    rejects((p) => { p.rules[1].action.expirySeconds = 3600; }, '$.rules[1].action.expirySeconds', /timelock/);
    rejects((p) => { p.rules[1].action.timelockSeconds = -1; }, '$.rules[1].action.timelockSeconds');
    rejects((p) => { delete p.rules[0].match; }, '$.rules[0].match');
  });

  it('validates address list entries', () => {
    rejects((p) => { p.addressLists[0].entries[0].addedAt = 'yesterday'; }, '$.addressLists[0].entries[0].addedAt');
    rejects((p) => { p.addressLists[0].entries[0].addedAt = '2026-01-01T00:00:00'; }, '$.addressLists[0].entries[0].addedAt');
    rejects((p) => { p.addressLists[0].cooldownSeconds = -5; }, '$.addressLists[0].cooldownSeconds');
    rejects((p) => { p.addressLists[0].entries[0].address = ''; }, '$.addressLists[0].entries[0].address');
  });

  it('never throws a raw exception on garbage', () => {
    for (const junk of [undefined, 1, 'x', { version: 1 }, { version: 1, assets: {}, addressLists: [], groups: [], rules: [] }, { version: 1, assets: [], addressLists: [], groups: [], rules: [null] }]) {
      assert.throws(() => parsePolicy(junk), ValidationError);
    }
  });
});
