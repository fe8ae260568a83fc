import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolAbort, ValidationError } from '../../../src/common/errors.ts';
import { groupOf, type Scheme } from '../../../src/common/schemes.ts';
import { getGroup } from '../../../src/crypto/group.ts';
import { checkParams, finish, round1, round2 } from '../../../src/protocols/dkg/index.ts';
import type { Round1Payload, Round2Payload } from '../../../src/protocols/dkg/types.ts';
import type { Inbound } from '../../../src/protocols/message.ts';
import { makeNet, signed, type Net } from './harness.ts';

/** Round-1 outputs of every party of a 2-of-3 run, and node-a's view of the others' messages. */
function setup(scheme: Scheme, seed: string) {
  const net = makeNet(scheme, 2, 3, seed);
  const outs = Object.fromEntries(net.parties.map((p) => [p, round1(net.params(p), net.rng(p, 'r1'))]));
  const msg = (p: string, payload: unknown = outs[p].broadcast) => signed(net, p, 'dkg/1', payload) as Inbound<Round1Payload>;
  const r2 = (inbound: unknown[]) => round2(outs['node-a'].state, inbound as Inbound<Round1Payload>[], net.encryptionSecret('node-a'), net.ids.authenticator);
  return { net, outs, msg, r2 };
}

/** A ProtocolAbort `dkg.bad_message` naming `culprit` in both the culprit field and the message. */
const badMessage = (culprit: string) => (e: unknown) => {
  assert.ok(e instanceof ProtocolAbort, String(e));
  assert.equal(e.code, 'dkg.bad_message');
  assert.equal(e.culprit, culprit);
  assert.ok(e.message.includes(culprit), e.message);
  return true;
};

for (const scheme of ['frost-ed25519', 'frost-secp256k1'] as Scheme[]) {
  const g = getGroup(groupOf(scheme));
  describe(`DKG input validation (${scheme})`, () => {
    const { net, outs, msg, r2 } = setup(scheme, 'validation');
    const b = outs['node-b'].broadcast;
    const c = msg('node-c');

    it('accepts the untampered messages', () => {
      assert.equal(r2([msg('node-b'), c]).broadcast.complaints.length, 0);
    });

    it('names the sender of a malformed (but signed) round-1 payload', () => {
      const identity = g.name === 'ed25519' ? '01' + '00'.repeat(31) : '00'.repeat(33);
      const offCurve = g.name === 'ed25519' ? 'ec' + 'ff'.repeat(30) + '7f' : '02' + '00'.repeat(31) + '05';
      const bad: Record<string, unknown> = {
        'too few commitments': { ...b, commitments: b.commitments.slice(1) },
        'too many commitments': { ...b, commitments: [...b.commitments, b.commitments[0]] },
        'identity commitment': { ...b, commitments: [b.commitments[0], identity] },
        'invalid point': { ...b, commitments: [b.commitments[0], offCurve] },
        'uppercase hex': { ...b, commitments: [b.commitments[0], b.commitments[1].toUpperCase()] },
        'short proof': { ...b, proofOfKnowledge: b.proofOfKnowledge.slice(2) },
        'missing field': { commitments: b.commitments, shares: b.shares },
        'extra field': { ...b, note: 'hi' },
        'share for a party missing': { ...b, shares: { 'node-a': b.shares['node-a'] } },
        'share for an unknown party': { ...b, shares: { ...b.shares, 'node-z': b.shares['node-a'] } },
        'share for itself': { ...b, shares: { ...b.shares, 'node-b': b.shares['node-a'] } },
        'short ciphertext': { ...b, shares: { ...b.shares, 'node-a': b.shares['node-a'].slice(2) } },
        'bad ephemeral key': { ...b, shares: { ...b.shares, 'node-c': '05' + b.shares['node-c'].slice(2) } },
        'not an object': ['x'],
        'null': null,
      };
      for (const [label, payload] of Object.entries(bad)) assert.throws(() => r2([msg('node-b', payload), c]), badMessage('node-b'), label);
    });

    it('relay faults (missing, unknown, duplicate, own message) are named but not blamed on a party', () => {
      const check = (inbound: unknown[], code: string, party: string) =>
        assert.throws(() => r2(inbound), (e: unknown) => {
          assert.ok(e instanceof ValidationError, String(e));
          assert.equal(e.code, code);
          assert.ok(e.message.includes(party), e.message);
          return true;
        });
      check([c], 'dkg.missing_sender', 'node-b');
      check([msg('node-b'), c, msg('node-b')], 'dkg.duplicate_sender', 'node-b');
      check([msg('node-b'), c, msg('node-a')], 'dkg.self_message', 'node-a');
      check([msg('node-b'), c, { ...c, from: 'node-z' }], 'dkg.unknown_sender', 'node-z');
      assert.throws(() => r2('nope' as unknown as unknown[]), { code: 'dkg.bad_inbound' });
    });

    it('a signature over another payload, round or sender is blamed on the claimed sender', () => {
      const bSig = msg('node-b').signature;
      for (const forged of [
        { from: 'node-b', payload: { ...b, proofOfKnowledge: outs['node-c'].broadcast.proofOfKnowledge }, signature: bSig },
        { from: 'node-b', payload: b, signature: signed(net, 'node-b', 'dkg/2', b).signature },
        { from: 'node-b', payload: b, signature: c.signature },
      ]) {
        assert.throws(() => r2([forged, c]), { code: 'dkg.bad_signature', culprit: 'node-b' });
      }
    });

    it('refuses an encryption key that is not the one the session lists for this party', () => {
      assert.throws(() => round2(outs['node-a'].state, [msg('node-b'), c], net.encryptionSecret('node-b'), net.ids.authenticator), { code: 'dkg.wrong_encryption_key' });
    });

    it('names the sender of a malformed round-2 payload', () => {
      const all = Object.fromEntries(net.parties.map((p) => [p, round2(outs[p].state, net.parties.filter((q) => q !== p).map((q) => msg(q)), net.encryptionSecret(p), net.ids.authenticator)]));
      const b2 = all['node-b'].broadcast;
      const m2 = (p: string, payload: unknown = all[p].broadcast) => signed(net, p, 'dkg/2', payload) as Inbound<Round2Payload>;
      const fin = (inbound: unknown[]) => finish(all['node-a'].state, inbound as Inbound<Round2Payload>[], net.ids.authenticator);
      assert.equal(fin([m2('node-b'), m2('node-c')]).self, 'node-a');
      const complaint = { accused: 'node-a', shared: '02' + '11'.repeat(32), proof: '00'.repeat(64) };
      const bad: Record<string, unknown> = {
        'echo missing': { ...b2, echoes: { 'node-a': b2.echoes['node-a'] } },
        'echo of itself': { ...b2, echoes: { ...b2.echoes, 'node-b': b2.echoes['node-a'] } },
        'short digest': { ...b2, echoes: { ...b2.echoes, 'node-a': { ...b2.echoes['node-a'], digest: 'ab' } } },
        'empty signature': { ...b2, echoes: { ...b2.echoes, 'node-a': { ...b2.echoes['node-a'], signature: '' } } },
        'complaints not an array': { ...b2, complaints: {} },
        'complaint against itself': { ...b2, complaints: [{ ...complaint, accused: 'node-b' }] },
        'complaint against an unknown party': { ...b2, complaints: [{ ...complaint, accused: 'node-z' }] },
        'duplicate complaint': { ...b2, complaints: [complaint, complaint] },
        'complaint with an invalid point': { ...b2, complaints: [{ ...complaint, shared: '05' + '00'.repeat(32) }] },
        'complaint with a short proof': { ...b2, complaints: [{ ...complaint, proof: '00' }] },
      };
      for (const [label, payload] of Object.entries(bad)) assert.throws(() => fin([m2('node-b', payload), m2('node-c')]), badMessage('node-b'), label);
    });
  });
}

describe('DKG parameters', () => {
  const net: Net = makeNet('frost-ed25519', 2, 3, 'params');
  const ok = net.params('node-a');
  it('accepts well-formed parameters', () => {
    assert.doesNotThrow(() => checkParams(ok));
  });
  it('refuses bad thresholds, party lists, self and encryption keys', () => {
    const keys = (extra: string[]) => ({ ...ok.encryptionKeys, ...Object.fromEntries(extra.map((p) => [p, ok.encryptionKeys['node-a']])) });
    const eleven = Array.from({ length: 11 }, (_, i) => `p${i}`);
    for (const [label, params] of Object.entries({
      'threshold 1': { ...ok, threshold: 1 },
      'threshold > n': { ...ok, threshold: 4 },
      'threshold not an integer': { ...ok, threshold: 2.5 },
      'more than 10 parties': { ...ok, parties: eleven, self: 'p0', encryptionKeys: keys(eleven) },
      'duplicate parties': { ...ok, parties: ['node-a', 'node-a', 'node-b'] },
      'self not a party': { ...ok, self: 'node-z' },
      'missing encryption key': { ...ok, encryptionKeys: { 'node-a': ok.encryptionKeys['node-a'] } },
      'invalid encryption key': { ...ok, encryptionKeys: { ...ok.encryptionKeys, 'node-b': '05' + '00'.repeat(32) } },
      'unknown scheme': { ...ok, scheme: 'rsa' },
      'empty session': { ...ok, sessionId: '' },
    })) {
      assert.throws(() => round1(params as typeof ok), (e: unknown) => e instanceof ValidationError && e.code === 'dkg.bad_params', label);
    }
  });
});
