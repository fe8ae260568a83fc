import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { __TEST as secpTest, schnorr, secp256k1_FROST } from '@noble/curves/secp256k1.js';
import { HDKey } from '@scure/bip32';
import { fromHex, toHex, utf8 } from '../../../src/common/bytes.ts';
import { FROST_SCHEMES } from '../../../src/common/schemes.ts';
import { SoftwareKeystore } from '../../../src/hsm/software-keystore.ts';
import { aggregate, commit, publicKeyReport, signShare, verifyShare, verifySignature, type FrostKeyPublic } from '../../../src/protocols/frost/index.ts';
import { importPublic, importSecret } from '../../../src/protocols/frost/keys.ts';
import { consumerVerifies, dealKeys, nobleSuite, seededRng, signWith } from './helpers.ts';


const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin'];
const CONFIGS: { t: number; n: number; quorums: string[][] }[] = [
  { t: 2, n: 3, quorums: [['alice', 'bob'], ['carol', 'alice'], ['bob', 'carol'], ['alice', 'bob', 'carol']] },
  { t: 3, n: 5, quorums: [['alice', 'bob', 'carol'], ['erin', 'bob', 'dave'], ['alice', 'carol', 'dave', 'erin'], NAMES] },
];

for (const scheme of FROST_SCHEMES) {
  describe(`FROST signing with DkgResult-shaped keys from a trusted dealer (${scheme})`, () => {
    for (const { t, n, quorums } of CONFIGS) {
      const parties = NAMES.slice(0, n);
      const { deal, keys } = dealKeys(scheme, t, parties);
      const report = publicKeyReport(keys.alice);

      it(`${t}-of-${n}: reports the key in the scheme's format`, () => {
        const nobleGroupKey = toHex(deal.public.commitments[0]);
        if (scheme === 'frost-ed25519') {
          assert.equal(report.publicKey, nobleGroupKey);
          assert.equal(report.publicKey.length, 64);
        } else if (scheme === 'frost-secp256k1') {
          assert.equal(report.publicKey, nobleGroupKey);
          assert.equal(report.publicKey.length, 66);
        } else {
          // noble's own BIP86 tweak of the dealer package (the one its DKG applies) gives the same key.
          const tweaked = secpTest.frostTweakPublic(deal.public, new Uint8Array(0));
          assert.equal(report.publicKey, toHex(tweaked.commitments[0]).slice(2));
          assert.equal(report.internalKey, nobleGroupKey.slice(2));
        }
        for (const p of parties) assert.deepEqual(publicKeyReport(keys[p]), report, 'every party reports the same key');
      });

      for (const quorum of quorums) {
        it(`${t}-of-${n}: ${quorum.join('+')} sign; the signature verifies under the reported key`, () => {
          const message = utf8(`pay 1 BTC to ${quorum.join(',')}`);
          const { signature, commitments, shares } = signWith(keys, quorum, message, seededRng(`${scheme}/${quorum}`));
          assert.equal(consumerVerifies(scheme, report.publicKey, message, signature), true);
          assert.equal(verifySignature(scheme, report.publicKey, message, signature), true);
          assert.equal(consumerVerifies(scheme, report.publicKey, utf8('another message'), signature), false);
          for (const p of quorum) assert.equal(verifyShare(keys.bob, commitments, message, p, shares[p]), true);
        });
      }
    }

    it('signs empty, 32-byte and long messages', () => {
      const { keys } = dealKeys(scheme, 2, ['alice', 'bob', 'carol']);
      const { publicKey } = publicKeyReport(keys.alice);
      for (const message of [new Uint8Array(0), new Uint8Array(32).fill(7), new Uint8Array(1000).fill(1)]) {
        const { signature } = signWith(keys, ['bob', 'carol'], message);
        assert.equal(consumerVerifies(scheme, publicKey, message, signature), true, `message of ${message.length} bytes`);
      }
    });

    it('nonces survive sealing with the HSM keystore (purpose frost-nonce)', () => {
      const { keys } = dealKeys(scheme, 2, ['alice', 'bob', 'carol']);
      const ks = { alice: new SoftwareKeystore(), carol: new SoftwareKeystore() };
      const signers = ['alice', 'carol'] as const;
      const ctx = (p: string) => ({ keyId: `k1/nonce-${p}`, party: p, purpose: 'frost-nonce' as const });
      const pooled = signers.map((p) => {
        const r1 = commit(keys[p]);
        const blob = ks[p].seal(r1.nonces, ctx(p));
        r1.nonces.fill(0);
        return { p, blob, commitment: r1.commitment };
      });
      const message = utf8('sealed nonces');
      const commitments = pooled.map((x) => x.commitment);
      const shares = Object.fromEntries(pooled.map(({ p, blob }) => [p, signShare(keys[p], ks[p].unseal(blob, ctx(p)), commitments, message)]));
      const signature = aggregate(keys.alice, commitments, message, shares);
      assert.equal(consumerVerifies(scheme, publicKeyReport(keys.alice).publicKey, message, signature), true);
    });
  });
}

describe('bip340: BIP86 tweak of keys from our own DKG', () => {
  it('matches the BIP86 test vector (m/86\'/0\'/0\'/0/0) and signs under its output key', () => {
    // BIP86 "Test vectors": xprv of m/86'/0'/0'/0/0 of the "abandon ... about" mnemonic.
    const xprv = 'xprvA449goEeU9okwCzzZaxiy475EQGQzBkc65su82nXEvcwzfSskb2hAt2WymrjyRL6kpbVTGL3cKtp9herYXSjjQ1j4stsXXiRF7kXkCacK3T';
    const internalKey = 'cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115';
    const outputKey = 'a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c';
    const secret = HDKey.fromExtendedKey(xprv).privateKey!;
    const { keys } = dealKeys('bip340', 2, ['alice', 'bob', 'carol'], { secret });
    assert.equal(keys.alice.groupCommitments[0].slice(0, 2), '03', 'this vector has an odd-Y internal key');
    assert.deepEqual(publicKeyReport(keys.alice), { publicKey: outputKey, internalKey });
    const message = new Uint8Array(32).fill(0xab);
    const { signature } = signWith(keys, ['carol', 'bob'], message);
    assert.equal(schnorr.verify(fromHex(signature), message, fromHex(outputKey)), true);
  });

  it('tweaks exactly as noble\'s own schnorr_FROST DKG does (adjustDKG), shares included', () => {
    // The same seeded DKG run twice: plain secp256k1 FROST (untweaked, like ours) and noble's
    // Taproot suite (auto-tweaked). Same rng, same polynomials; only proofs of knowledge differ.
    const parties = ['alice', 'bob', 'carol', 'dave'];
    const run = (scheme: 'frost-secp256k1' | 'bip340') => {
      const suite = nobleSuite(scheme);
      const ids = parties.map((_, i) => suite.Identifier.fromNumber(i + 1));
      const signers = { min: 3, max: parties.length };
      const r1 = ids.map((id) => suite.DKG.round1(id, signers, undefined, (n = 32) => seededRng(`dkg/${id}`)(n) as Uint8Array<ArrayBuffer>));
      const others = <T>(xs: T[], i: number) => xs.filter((_, j) => j !== i);
      const r2 = r1.map((r, i) => suite.DKG.round2(r.secret, others(r1, i).map((x) => x.public)));
      return { ids, keys: r1.map((r, i) => suite.DKG.round3(r.secret, others(r1, i).map((x) => x.public), others(r2, i).map((m) => m[ids[i]]))) };
    };
    const plain = run('frost-secp256k1');
    const taproot = run('bip340');
    const ours: FrostKeyPublic = {
      scheme: 'bip340', threshold: 3, parties,
      groupCommitments: plain.keys[0].public.commitments.map((c) => toHex(c)),
      verifyingShares: Object.fromEntries(parties.map((p, i) => [p, toHex(plain.keys[0].public.verifyingShares[plain.ids[i]])])),
    };
    const imported = importPublic(ours);
    assert.deepEqual(imported.pub.commitments.map((c) => toHex(c)), taproot.keys[0].public.commitments.map((c) => toHex(c)));
    for (const id of taproot.ids) assert.equal(toHex(imported.pub.verifyingShares[id]), toHex(taproot.keys[0].public.verifyingShares[id]));
    parties.forEach((self, i) => {
      const secret = importSecret(imported, { ...ours, self, secretShare: plain.keys[i].secret.signingShare });
      assert.equal(toHex(secret.signingShare), toHex(taproot.keys[i].secret.signingShare), self);
    });
  });

  it('signs for every parity of internal and output key', () => {
    const seen = new Set<string>();
    for (let s = 1; seen.size < 4 && s < 64; s++) {
      const secret = new Uint8Array(32);
      secret[31] = s;
      const { deal, keys } = dealKeys('bip340', 2, ['alice', 'bob', 'carol'], { secret });
      const internalOdd = keys.alice.groupCommitments[0].startsWith('03');
      const outputOdd = toHex(secpTest.frostTweakPublic(deal.public, new Uint8Array(0)).commitments[0]).startsWith('03');
      const kind = `internal ${internalOdd ? 'odd' : 'even'}, output ${outputOdd ? 'odd' : 'even'}`;
      if (seen.has(kind)) continue;
      seen.add(kind);
      const message = utf8(kind);
      const { signature } = signWith(keys, ['alice', 'carol'], message);
      assert.equal(schnorr.verify(fromHex(signature), message, fromHex(publicKeyReport(keys.alice).publicKey)), true, kind);
    }
    assert.equal(seen.size, 4, 'all four parity combinations were exercised');
  });

  it('the same shares, signed as frost-secp256k1, verify under the untweaked key instead', () => {
    const { keys } = dealKeys('bip340', 2, ['alice', 'bob', 'carol']);
    const plain = Object.fromEntries(Object.entries(keys).map(([p, k]) => [p, { ...k, scheme: 'frost-secp256k1' as const }]));
    const message = utf8('untweaked');
    const { signature } = signWith(plain, ['alice', 'bob'], message);
    assert.equal(secp256k1_FROST.verify(fromHex(signature), message, fromHex(keys.alice.groupCommitments[0])), true);
    assert.notEqual(publicKeyReport(keys.alice).publicKey, keys.alice.groupCommitments[0].slice(2));
  });
});

describe('identifiers', () => {
  it('party i of the key has noble identifier i+1 in the suite encoding', () => {
    const { keys } = dealKeys('frost-ed25519', 2, ['alice', 'bob', 'carol']);
    const r1 = commit(keys.carol);
    assert.equal(r1.commitment.identifier, nobleSuite('frost-ed25519').Identifier.fromNumber(3));
    assert.equal(r1.commitment.identifier, '03' + '00'.repeat(31), 'Ed25519 scalars are little-endian');
    const k1 = dealKeys('bip340', 2, ['alice', 'bob', 'carol']).keys;
    assert.equal(commit(k1.bob).commitment.identifier, '00'.repeat(31) + '02', 'secp256k1 scalars are big-endian');
  });
});
