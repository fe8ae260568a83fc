import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toHex, utf8 } from '../../../src/common/bytes.ts';
import { groupOf, type Scheme } from '../../../src/common/schemes.ts';
import { getGroup } from '../../../src/crypto/group.ts';
import { interpolateAtZero } from '../../../src/crypto/lagrange.ts';
import { finish, parseState, round1, round2, serializeState } from '../../../src/protocols/dkg/index.ts';
import type { DkgResult } from '../../../src/protocols/dkg/types.ts';
import { publicKeyReport } from '../../../src/protocols/frost/index.ts';
import { consumerVerifies, signWith } from '../frost/helpers.ts';
import { makeNet, runDkg, signed } from './harness.ts';

/** The group secret from the shares of `subset` (Lagrange at 0), as a test-side check only. */
function reconstruct(results: Record<string, DkgResult>, subset: string[]): bigint {
  const r0 = results[subset[0]];
  const g = getGroup(groupOf(r0.scheme));
  return interpolateAtZero(g, subset.map((p) => ({ index: BigInt(results[p].index), value: g.decodeScalar(results[p].secretShare) })));
}

const CONFIGS: [number, number][] = [[2, 2], [2, 3], [3, 5], [7, 10]];

for (const scheme of ['frost-ed25519', 'frost-secp256k1'] as Scheme[]) {
  const g = getGroup(groupOf(scheme));
  describe(`DKG happy path (${scheme})`, () => {
    for (const [t, n] of CONFIGS) {
      it(`${t}-of-${n}: every party agrees, t shares rebuild the key, t-1 do not`, () => {
        const net = makeNet(scheme, t, n, `happy-${t}-${n}`);
        const out = runDkg(net);
        assert.deepEqual(out.errors, {});
        const results = out.results;
        const parties = net.parties;
        const first = results[parties[0]];
        assert.equal(first.groupCommitments.length, t);
        for (const [i, p] of parties.entries()) {
          const r = results[p];
          assert.equal(r.version, 1);
          assert.equal(r.self, p);
          assert.equal(r.index, i + 1);
          assert.equal(r.scheme, scheme);
          assert.equal(r.sessionId, net.sessionId);
          assert.deepEqual(r.parties, parties);
          assert.deepEqual(r.groupCommitments, first.groupCommitments);
          assert.deepEqual(r.verifyingShares, first.verifyingShares);
          assert.equal(r.transcriptHash, first.transcriptHash);
          assert.match(r.transcriptHash, /^[0-9a-f]{64}$/);
          assert.equal(r.secretShare.length, 32);
          // Each verifying share is the public key of that party's signing share.
          assert.equal(toHex(g.encodePoint(g.base.multiply(g.decodeScalar(r.secretShare)))), first.verifyingShares[p]);
        }
        assert.equal(new Set(parties.map((p) => toHex(results[p].secretShare))).size, n, 'shares are distinct');
        const groupKey = first.groupCommitments[0];
        for (const subset of [parties.slice(0, t), parties.slice(n - t), parties]) {
          assert.equal(toHex(g.encodePoint(g.base.multiply(reconstruct(results, subset)))), groupKey, `subset ${subset}`);
        }
        const fewer = reconstruct(results, parties.slice(0, t - 1));
        assert.notEqual(fewer === 0n ? '' : toHex(g.encodePoint(g.base.multiply(fewer))), groupKey);
      });
    }

    it('is deterministic for injected randomness, and different for other randomness', () => {
      const a = runDkg(makeNet(scheme, 2, 3, 'det'));
      const b = runDkg(makeNet(scheme, 2, 3, 'det'));
      const c = runDkg(makeNet(scheme, 2, 3, 'det-other'));
      assert.deepEqual(a.results, b.results);
      assert.notEqual(c.results['node-a'].groupCommitments[0], a.results['node-a'].groupCommitments[0]);
    });
  });
}

describe('DKG state serialisation', () => {
  const net = makeNet('frost-secp256k1', 2, 3, 'serial');
  const params = net.params('node-a');

  it('round-trips between rounds as canonical, versioned JSON, and the rounds give the same output', () => {
    const outs = net.parties.map((p) => round1(net.params(p), net.rng(p, 'r1')));
    const s1 = outs[0].state;
    const json = serializeState(s1);
    assert.equal(JSON.parse(json).version, 1);
    assert.equal(JSON.parse(json).step, 'round1');
    const parsed = parseState(json);
    assert.deepEqual(parsed, s1);
    assert.equal(serializeState(parsed), json);
    const inbound = [1, 2].map((i) => signed(net, net.parties[i], 'dkg/1', outs[i].broadcast));
    const direct = round2(s1, inbound, net.encryptionSecret('node-a'), net.ids.authenticator, net.rng('node-a', 'r2'));
    const viaJson = round2(parsed, inbound, net.encryptionSecret('node-a'), net.ids.authenticator, net.rng('node-a', 'r2'));
    assert.deepEqual(viaJson, direct);
    const s2json = serializeState(direct.state);
    assert.equal(JSON.parse(s2json).step, 'round2');
    assert.deepEqual(parseState(s2json), direct.state);
  });

  it('refuses other versions, unknown steps, extra fields and malformed secrets, without quoting them', () => {
    const { state } = round1(params, net.rng('node-a', 'r1'));
    const json = JSON.parse(serializeState(state));
    assert.throws(() => parseState(JSON.stringify({ ...json, version: 2 })), { code: 'dkg.bad_state' });
    assert.throws(() => parseState(JSON.stringify({ ...json, step: 'round3' })), { code: 'dkg.bad_state' });
    assert.throws(() => parseState(JSON.stringify({ ...json, extra: 1 })), { code: 'dkg.bad_state' });
    assert.throws(() => parseState('{'), { code: 'dkg.bad_state' });
    const badShare = 'ff'.repeat(32);
    assert.throws(() => parseState(JSON.stringify({ ...json, ownShare: badShare })), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'dkg.bad_state');
      assert.ok(!e.message.includes(badShare) && !e.message.includes(state.ownShare));
      return true;
    });
    const r1 = { ...json.round1, commitments: json.round1.commitments.slice(1) };
    assert.throws(() => parseState(JSON.stringify({ ...json, round1: r1 })), { code: 'dkg.bad_state' });
  });

  it('refuses a state at the wrong step', () => {
    const outs = net.parties.map((p) => round1(net.params(p), net.rng(p, 'r1')));
    const { state } = outs[0];
    assert.throws(() => finish(state, [], net.ids.authenticator), { code: 'dkg.wrong_step' });
    const inbound = [1, 2].map((i) => signed(net, net.parties[i], 'dkg/1', outs[i].broadcast));
    const next = round2(state, inbound, net.encryptionSecret('node-a'), net.ids.authenticator).state;
    assert.throws(() => round2(next, inbound, net.encryptionSecret('node-a'), net.ids.authenticator), { code: 'dkg.wrong_step' });
  });
});


describe('DKG output signs with FROST', () => {
  for (const scheme of ['frost-ed25519', 'frost-secp256k1', 'bip340'] as Scheme[]) {
    it(`${scheme}: 2-of-3 keys from the DKG produce signatures that verify under the group key`, () => {
      const out = runDkg(makeNet(scheme, 2, 3, `sign-${scheme}`));
      assert.deepEqual(out.errors, {});
      const message = utf8(`custos dkg ${scheme}`);
      const { signature } = signWith(out.results, ['node-c', 'node-a'], message);
      const pk = publicKeyReport(out.results['node-a']).publicKey;
      assert.equal(consumerVerifies(scheme, pk, message, signature), true);
      assert.equal(consumerVerifies(scheme, pk, utf8('another message'), signature), false);
    });
  }
});
