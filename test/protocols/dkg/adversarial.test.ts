import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex, toHex } from '../../../src/common/bytes.ts';
import { ProtocolAbort } from '../../../src/common/errors.ts';
import { groupOf, type Scheme } from '../../../src/common/schemes.ts';
import { proveDecryption } from '../../../src/crypto/decryption-proof.ts';
import { eciesEncryptProvingEphemeral } from '../../../src/crypto/ecies.ts';
import { getGroup } from '../../../src/crypto/group.ts';
import { testIdentities } from './auth.ts';
import { shareContext, shareEphemeralContext } from '../../../src/protocols/dkg/params.ts';
import { round1 } from '../../../src/protocols/dkg/index.ts';
import type { Round1Payload, Round2Payload } from '../../../src/protocols/dkg/types.ts';
import { seededRng } from '../../crypto/rng.ts';
import { abortsOf, makeNet, runDkg, signed, type Net, type RunOutcome } from './harness.ts';

/** Every party in `who` aborted as a ProtocolAbort with `code`, naming `culprit`. */
function assertNamed(out: RunOutcome, who: string[], code: string, culprit: string): void {
  for (const p of who) assert.ok(out.errors[p] instanceof ProtocolAbort, `${p} aborted with a ProtocolAbort (got ${String(out.errors[p])})`);
  assert.deepEqual(abortsOf(out, who), who.map(() => ({ code, culprit })));
  for (const p of who) assert.equal(out.results[p], undefined, `${p} did not finish`);
}

const others = (net: Net, ...not: string[]) => net.parties.filter((p) => !not.includes(p));

type Forged = { ct: string; proof: string };

/** A valid-looking share ciphertext from `dealer` to `receiver` holding `share` (32 bytes), with the
 * proof of its ephemeral key a dealer must give; `context` defaults to the right one. */
function encryptShare(net: Net, dealer: string, receiver: string, share: Uint8Array, rngSeed: string, contextReceiver = receiver): Forged {
  const params = net.params(dealer);
  const { ciphertext, proof } = eciesEncryptProvingEphemeral(fromHex(params.encryptionKeys[receiver]), share, shareContext(params, dealer, contextReceiver), shareEphemeralContext(params, dealer, receiver), seededRng(rngSeed));
  return { ct: toHex(ciphertext), proof: toHex(proof) };
}

/**
 * A round-two mutation: `complainer` accuses `accused`, revealing (with a genuine decryption
 * proof) the ECDH point of the ciphertext that `dealer` sent it, as recorded in `r1`.
 */
function complaintBy(net: Net, r1: Record<string, Round1Payload>, complainer: string, accused: string, dealer: string, seed: string) {
  return (from: string, p: Round2Payload): Round2Payload => {
    if (from !== complainer) return p;
    const context = shareContext(net.params(complainer), dealer, complainer);
    const revealed = proveDecryption(net.encryptionSecret(complainer), fromHex(r1[dealer].shares[complainer]), context, seededRng(seed));
    return { ...p, complaints: [{ accused, shared: toHex(revealed.shared), proof: toHex(revealed.proof) }] };
  };
}

/** `p` with the share for `receiver` replaced. */
function withShare(p: Round1Payload, receiver: string, f: Forged): Round1Payload {
  return { ...p, shares: { ...p.shares, [receiver]: f.ct }, shareProofs: { ...p.shareProofs, [receiver]: f.proof } };
}

for (const scheme of ['frost-secp256k1', 'frost-ed25519'] as Scheme[]) {
  const g = getGroup(groupOf(scheme));
  describe(`DKG adversaries are named (${scheme}, 3-of-4)`, () => {
    const cheater = 'node-b';
    const victim = 'node-c';

    it('a dealer that sends a wrong (well-encrypted) share: the victim complains, everyone names the dealer', () => {
      const net = makeNet(scheme, 3, 4, 'bad-share');
      const out = runDkg(net, {
        mutate1: (from, p) => from !== cheater ? p : withShare(p, victim, encryptShare(net, cheater, victim, g.encodeScalar(g.randomScalar(seededRng('x'))), 'enc')),
      });
      // Round 2 went through everywhere: the victim complained instead of aborting.
      assert.deepEqual(Object.keys(out.round2).sort(), net.parties);
      assert.deepEqual(out.round2[victim].payload.complaints.map((c) => c.accused), [cheater]);
      for (const p of others(net, victim)) assert.deepEqual(out.round2[p].payload.complaints, []);
      // (The cheater's own state holds its unaltered broadcast, so it sees its own equivocation.)
      assertNamed(out, others(net, cheater), 'dkg.bad_share', cheater);
    });

    it('a dealer whose ciphertext does not open (wrong context, junk scalar, garbage) is named', () => {
      const net = makeNet(scheme, 3, 4, 'bad-ciphertext');
      const variants: Record<string, (p: Round1Payload) => Forged> = {
        'share encrypted for another receiver': () => encryptShare(net, cheater, victim, g.encodeScalar(5n), 'w', 'node-d'),
        'not a canonical scalar': () => encryptShare(net, cheater, victim, new Uint8Array(32).fill(0xff), 'ff'),
        'garbage body': (p) => ({ ct: p.shares[victim].slice(0, 66) + 'ab'.repeat(48), proof: p.shareProofs[victim] }),
      };
      for (const [label, forge] of Object.entries(variants)) {
        const out = runDkg(net, { mutate1: (from, p) => from !== cheater ? p : withShare(p, victim, forge(p)) });
        assert.deepEqual(out.round2[victim]?.payload.complaints.map((c) => c.accused), [cheater], label);
        assertNamed(out, others(net, cheater), 'dkg.bad_share', cheater);
      }
    });

    it('a false complaint (with a true decryption proof) names the complainer', () => {
      const net = makeNet(scheme, 3, 4, 'false-complaint');
      const r1: Record<string, Round1Payload> = {};
      const out = runDkg(net, {
        mutate1: (from, p) => (r1[from] = p),
        mutate2: complaintBy(net, r1, victim, cheater, cheater, 'fc'),
      });
      assertNamed(out, others(net, victim), 'dkg.false_complaint', victim);
    });

    it('a complaint whose decryption proof does not verify names the complainer', () => {
      const net = makeNet(scheme, 3, 4, 'bad-complaint');
      const r1: Record<string, Round1Payload> = {};
      const out = runDkg(net, {
        mutate1: (from, p) => (r1[from] = p),
        // A real proof, but for another party's ciphertext: it does not bind this one.
        mutate2: complaintBy(net, r1, victim, cheater, 'node-d', 'bc'),
      });
      assertNamed(out, others(net, victim), 'dkg.bad_complaint', victim);
    });

    it('an equivocating dealer (two validly signed round-1 broadcasts) is named by everyone', () => {
      const net = makeNet(scheme, 3, 4, 'equivocation');
      const second = round1(net.params(cheater), seededRng('second')).broadcast;
      const out = runDkg(net, {
        deliver1: (from, to, msg) => (from === cheater && to === 'node-d' ? signed(net, cheater, 'dkg/1', second) : msg),
      });
      // The different broadcast alone is well-formed: nobody could tell in round 2.
      assert.deepEqual(Object.keys(out.round2).sort(), net.parties);
      assertNamed(out, others(net, cheater), 'dkg.equivocation', cheater);
    });

    it('an equivocation in one share only is caught by the echo too', () => {
      const net = makeNet(scheme, 3, 4, 'equivocation-share');
      const out = runDkg(net, {
        deliver1: (from, to, msg) => {
          if (from !== cheater || to !== victim) return msg;
          return signed(net, cheater, 'dkg/1', withShare(msg.payload, 'node-d', encryptShare(net, cheater, 'node-d', g.encodeScalar(1n), 'eq')));
        },
      });
      assertNamed(out, others(net, cheater), 'dkg.equivocation', cheater);
    });

    it('a party that echoes a digest the dealer never signed is named', () => {
      const net = makeNet(scheme, 3, 4, 'lying-echo');
      const liar = 'node-d';
      const out = runDkg(net, {
        mutate2: (from, p) => from !== liar ? p : { ...p, echoes: { ...p.echoes, [cheater]: { ...p.echoes[cheater], digest: 'ab'.repeat(32) } } },
      });
      assertNamed(out, others(net, liar), 'dkg.bad_echo', liar);
    });

    it('a bad proof of knowledge is named in round 2: a replayed proof, and a tampered one', () => {
      const net = makeNet(scheme, 3, 4, 'bad-pok');
      const r1: Record<string, Round1Payload> = {};
      // Rogue-key replay: copy node-a's constant-term commitment and proof as one's own.
      const replay = runDkg(net, {
        mutate1: (from, p) => {
          r1[from] = p;
          return from !== cheater ? p : { ...p, commitments: [r1['node-a'].commitments[0], ...p.commitments.slice(1)], proofOfKnowledge: r1['node-a'].proofOfKnowledge };
        },
      });
      assertNamed(replay, others(net, cheater), 'dkg.bad_proof', cheater);
      for (const p of others(net, cheater)) assert.equal(replay.round2[p], undefined, `${p} aborted in round 2`);
      const tampered = runDkg(net, {
        mutate1: (from, p) => from !== cheater ? p : { ...p, proofOfKnowledge: p.proofOfKnowledge.slice(0, -2) + (p.proofOfKnowledge.endsWith('00') ? '01' : '00') },
      });
      assertNamed(tampered, others(net, cheater), 'dkg.bad_proof', cheater);
    });

    it('a message whose signature does not verify is blamed on its sender, in either round', () => {
      const net = makeNet(scheme, 3, 4, 'bad-signature');
      const out1 = runDkg(net, { deliver1: (from, to, msg) => (from === cheater && to === victim ? { ...msg, signature: signed(net, cheater, 'dkg/2', msg.payload).signature } : msg) });
      assert.deepEqual(abortsOf(out1, [victim]), [{ code: 'dkg.bad_signature', culprit: cheater }]);
      const out2 = runDkg(net, { deliver2: (from, to, msg) => (from === cheater && to === victim ? { ...msg, signature: '00'.repeat(64) } : msg) });
      assert.deepEqual(abortsOf(out2, [victim]), [{ code: 'dkg.bad_signature', culprit: cheater }]);
    });
  });
}

describe('DKG: a dealer cannot turn complaints into a decryption oracle', () => {
  it('copying another dealer\'s ciphertexts from an earlier session is refused before anyone complains', () => {
    // Review finding: a complaint reveals S = sk·E for the dealer-chosen E. A dealer that copies an
    // honest dealer's old ciphertext (old E) into a new session would make the receiver reveal the
    // S that opens the OLD share. Every ciphertext must carry a proof that its dealer knows e.
    const scheme: Scheme = 'frost-secp256k1';
    const net1 = makeNet(scheme, 2, 3, 'oracle');
    const [m, b, c] = net1.parties;
    const out1 = runDkg(net1);
    assert.equal(Object.keys(out1.results).length, 3);
    const sid2 = 'dkg.oracle-second';
    const net2 = { ...net1, sessionId: sid2, ids: testIdentities(sid2, net1.parties, 'cluster'), params: (self: string) => ({ ...net1.params(self), sessionId: sid2 }) } as Net;
    const old = (from: string, to: string) => ({ ct: out1.round1[from].payload.shares[to], proof: out1.round1[from].payload.shareProofs[to] });
    const out2 = runDkg(net2, { mutate1: (from, p) => from !== m ? p : withShare(withShare(p, b, old(c, b)), c, old(b, c)) });
    // Nobody got as far as complaining (no S revealed); the honest parties name the dealer.
    for (const p of [b, c]) assert.equal(out2.round2[p], undefined, `${p} sent no round-two message`);
    assertNamed(out2, [b, c], 'dkg.bad_proof', m);
  });
});
