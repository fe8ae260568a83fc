import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePolicy } from '../../src/policy/document.ts';
import { evaluate, type PolicyRequest } from '../../src/policy/evaluate.ts';

/**
 * The README's worked treasury policy is a real policy: it parses strictly and decides as the
 * README says (so the documentation cannot drift from the code unnoticed).
 */
const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
const policy = parsePolicy(JSON.parse(readme.split('```json')[1].split('```')[0]));
const PAYEE = '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed';
const base: PolicyRequest = { keyId: 'k', chain: 'eip155:1', asset: 'usdc', txType: 'transfer', to: PAYEE, amount: '2500000000', initiator: 'demo-initiator', maxFee: '3000000000000000' };
const later = new Date('2026-12-15T00:00:00Z');
const ctx = (spent = 0n) => ({ now: later, velocity: () => ({ total: spent, count: 0 }), velocityShare: { threshold: 2, parties: 3 } });

test('the README treasury policy decides as the README says', () => {
  assert.equal(evaluate(policy, base, ctx()).rule, 'usdc-small-to-payees');
  const large = evaluate(policy, { ...base, amount: '250000000000', to: '0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359' }, ctx());
  assert.equal(large.decision, 'approve');
  assert.deepEqual(large.approvals, { groups: [{ group: 'treasury', threshold: 2 }, { group: 'risk', threshold: 1 }], timelockSeconds: 3600, expirySeconds: 86400 });
  // Over this node's share of the daily budget (two thirds of 50,000 USDC): approvals.
  assert.equal(evaluate(policy, base, ctx(31_000_000_000n)).rule, 'usdc-needs-approval');
  assert.equal(evaluate(policy, { ...base, maxFee: '20000000000000000' }, ctx()).decision, 'deny', 'fees above 0.01 ETH');
  assert.equal(evaluate(policy, { ...base, txType: 'raw-digest', asset: '', chain: '', amount: '0', maxFee: undefined }, ctx()).decision, 'deny');
  assert.equal(evaluate(policy, { ...base, asset: 'eth', amount: '1' }, ctx()).decision, 'deny', 'an ETH transfer matches no rule');
});
