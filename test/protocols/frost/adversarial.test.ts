import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toHex, utf8 } from '../../../src/common/bytes.ts';
import { CustosError, ProtocolAbort, ReuseError, ValidationError } from '../../../src/common/errors.ts';
import { FROST_SCHEMES } from '../../../src/common/schemes.ts';
import { aggregate, commit, signShare, verifyShare, type FrostCommitment } from '../../../src/protocols/frost/index.ts';
import { dealKeys, nobleSuite, seededRng } from './helpers.ts';

const PARTIES = ['alice', 'bob', 'carol'];
const message = utf8('withdraw 10 ETH');

/** Asserts `fn` throws a CustosError of `type` with `code` (and `culprit` when given). */
function throwsCustos(fn: () => unknown, type: new (...a: never[]) => CustosError, code: string, culprit?: string): CustosError {
  let caught: unknown;
  try { fn(); } catch (e) { caught = e; }
  assert.ok(caught instanceof type, `expected ${type.name} ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  if (culprit !== undefined) assert.equal(caught.culprit, culprit);
  return caught;
}

for (const scheme of FROST_SCHEMES) {
  describe(`FROST misbehaviour is caught (${scheme})`, () => {
    const { keys } = dealKeys(scheme, 2, PARTIES);
    const Fn = nobleSuite(scheme).utils.Fn;

    function round1(signers: string[]) {
      const r1 = signers.map((p) => commit(keys[p], seededRng(`${scheme}/${p}/${signers}`)));
      return { nonces: r1.map((r) => r.nonces), commitments: r1.map((r) => r.commitment) };
    }

    it('a wrong signature share fails verification and aggregation names its sender', () => {
      const { nonces, commitments } = round1(['alice', 'bob', 'carol']);
      const shares = Object.fromEntries(PARTIES.map((p, i) => [p, signShare(keys[p], nonces[i], commitments, message)]));
      const forged = toHex(Fn.toBytes(Fn.add(Fn.fromBytes(Buffer.from(shares.bob, 'hex')), 1n)));
      assert.equal(verifyShare(keys.alice, commitments, message, 'bob', shares.bob), true);
      assert.equal(verifyShare(keys.alice, commitments, message, 'bob', forged), false);
      const e = throwsCustos(() => aggregate(keys.alice, commitments, message, { ...shares, bob: forged }), ProtocolAbort, 'frost.bad_share', 'bob');
      assert.deepEqual(e.detail?.culprits, ['bob']);
      // A share that is valid, but for another message, is just as wrong.
      const other = round1(['alice', 'carol']);
      const carolOther = signShare(keys.carol, other.nonces[1], other.commitments, utf8('other'));
      assert.equal(verifyShare(keys.alice, other.commitments, message, 'carol', carolOther), false);
    });

    it('a malformed share names its sender; several bad shares are all listed', () => {
      const { nonces, commitments } = round1(['alice', 'bob', 'carol']);
      const shares = Object.fromEntries(PARTIES.map((p, i) => [p, signShare(keys[p], nonces[i], commitments, message)]));
      throwsCustos(() => aggregate(keys.alice, commitments, message, { ...shares, carol: 'zz' }), ProtocolAbort, 'frost.bad_share', 'carol');
      const overOrder = toHex(new Uint8Array(32).fill(0xff));
      assert.equal(verifyShare(keys.alice, commitments, message, 'carol', overOrder), false);
      const e = throwsCustos(() => aggregate(keys.alice, commitments, message, { ...shares, alice: shares.bob, carol: shares.alice }), ProtocolAbort, 'frost.bad_share', 'alice');
      assert.deepEqual(e.detail?.culprits, ['alice', 'carol']);
    });

    it('a missing or unexpected share is the caller\'s error', () => {
      const { nonces, commitments } = round1(['alice', 'bob']);
      const shares = { alice: signShare(keys.alice, nonces[0], commitments, message), bob: signShare(keys.bob, nonces[1], commitments, message) };
      throwsCustos(() => aggregate(keys.alice, commitments, message, { alice: shares.alice }), ValidationError, 'frost.missing_share');
      throwsCustos(() => aggregate(keys.alice, commitments, message, { ...shares, carol: shares.bob }), ValidationError, 'frost.bad_shares');
    });

    it('refuses a commitment list whose entry for this party is not its own (swapped by the coordinator)', () => {
      const first = commit(keys.alice);
      const second = commit(keys.alice);
      const bob = commit(keys.bob);
      const swapped: FrostCommitment[] = [second.commitment, bob.commitment];
      throwsCustos(() => signShare(keys.alice, first.nonces, swapped, message), ProtocolAbort, 'frost.own_commitment_mismatch', 'coordinator');
      assert.ok(first.nonces.every((b) => b === 0), 'the nonces are consumed even when refused (fail closed)');
      // Only the binding half swapped is refused too.
      const third = commit(keys.alice);
      const half = { ...third.commitment, binding: second.commitment.binding };
      throwsCustos(() => signShare(keys.alice, third.nonces, [half, bob.commitment], message), ProtocolAbort, 'frost.own_commitment_mismatch', 'coordinator');
    });

    it('refuses nonce bytes that were already used', () => {
      const { nonces, commitments } = round1(['alice', 'bob']);
      const again = nonces[0].slice();
      signShare(keys.alice, nonces[0], commitments, message);
      assert.ok(nonces[0].every((b) => b === 0));
      throwsCustos(() => signShare(keys.alice, nonces[0], commitments, message), ReuseError, 'frost.nonce_used');
      throwsCustos(() => signShare(keys.alice, nonces[0], commitments, utf8('a different message')), ReuseError, 'frost.nonce_used');
      // A copy taken before use is NOT caught here: single use across copies is the node's durable burn.
      assert.equal(typeof signShare(keys.alice, again, commitments, message), 'string');
    });

    it('refuses nonces made by another party', () => {
      const { nonces, commitments } = round1(['alice', 'bob']);
      throwsCustos(() => signShare(keys.bob, nonces[0], commitments, message), ValidationError, 'frost.nonce_mismatch');
      throwsCustos(() => signShare(keys.alice, new Uint8Array([1, 2, 3]), commitments, message), ValidationError, 'frost.bad_nonce');
    });

    it('refuses malformed signing sets', () => {
      const { nonces, commitments } = round1(['alice', 'bob']);
      const n = () => nonces[0].slice();
      throwsCustos(() => signShare(keys.alice, n(), [commitments[0]], message), ValidationError, 'frost.bad_commitments');
      throwsCustos(() => signShare(keys.alice, n(), [commitments[0], commitments[0]], message), ValidationError, 'frost.bad_commitments');
      throwsCustos(() => signShare(keys.alice, n(), [commitments[0], { ...commitments[1], party: 'mallory' }], message), ValidationError, 'frost.unknown_party');
      throwsCustos(() => signShare(keys.alice, n(), [commitments[0], { ...commitments[1], identifier: commitments[0].identifier }], message), ValidationError, 'frost.bad_commitments');
      throwsCustos(() => signShare(keys.alice, n(), [commitments[0], { ...commitments[1], hiding: commitments[1].hiding.slice(0, -2) }], message), ValidationError, 'encoding.bad_length');
      // Ed25519: y = 0 is on the curve but of order 4 (not in the prime-order subgroup); secp256k1: bad prefix.
      const notAPoint = scheme === 'frost-ed25519' ? '00'.repeat(32) : '05' + commitments[1].hiding.slice(2);
      throwsCustos(() => signShare(keys.alice, n(), [commitments[0], { ...commitments[1], hiding: notAPoint }], message), ValidationError, 'frost.bad_point');
      const carol = commit(keys.carol);
      throwsCustos(() => signShare(keys.alice, n(), [commitments[1], carol.commitment], message), ValidationError, 'frost.not_a_signer');
      throwsCustos(() => signShare(keys.alice, n(), commitments, 'text' as unknown as Uint8Array), ValidationError, 'frost.bad_message');
      // Each refused call above consumed its own copy; the original still signs.
      assert.equal(typeof signShare(keys.alice, nonces[0], commitments, message), 'string');
    });

    it('refuses a key whose public package contradicts itself or the share', () => {
      const { nonces, commitments } = round1(['alice', 'bob']);
      const badVs = { ...keys.alice, verifyingShares: { ...keys.alice.verifyingShares, bob: keys.alice.verifyingShares.carol } };
      throwsCustos(() => signShare(badVs, nonces[0].slice(), commitments, message), ValidationError, 'frost.bad_key');
      const wrongShare = { ...keys.alice, secretShare: keys.bob.secretShare };
      const e = throwsCustos(() => signShare(wrongShare, nonces[0].slice(), commitments, message), ValidationError, 'frost.bad_key');
      assert.ok(!e.message.includes(toHex(keys.bob.secretShare)), 'no secret in the message');
      throwsCustos(() => signShare({ ...keys.alice, threshold: 1 }, nonces[0].slice(), commitments, message), ValidationError, 'frost.bad_key');
      throwsCustos(() => signShare({ ...keys.alice, groupCommitments: keys.alice.groupCommitments.slice(0, 1) }, nonces[0].slice(), commitments, message), ValidationError, 'frost.bad_key');
      throwsCustos(() => signShare({ ...keys.alice, self: 'mallory' }, nonces[0].slice(), commitments, message), ValidationError, 'frost.nonce_mismatch');
    });

    it('round one fails closed on a short rng', () => {
      throwsCustos(() => commit(keys.alice, (n) => new Uint8Array(n - 1)), CustosError, 'frost.bad_rng');
    });
  });
}
