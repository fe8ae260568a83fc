import { test } from 'node:test';
import assert from 'node:assert/strict';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { HDKey } from '@scure/bip32';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex, utf8 } from '../../../src/common/bytes.ts';
import { deriveNonHardened, parseDerivationPath, xpubOf } from '../../../src/crypto/bip32-public.ts';
import { lagrangeCoefficient } from '../../../src/crypto/lagrange.ts';
import { getGroup } from '../../../src/crypto/group.ts';
import { payloadDigest } from '../../../src/protocols/message.ts';
import { makeNet, runDkg, abortsOf } from '../dkg/harness.ts';
import { ecdsaKeys, runPresign, signWithShares, type EcdsaKeySet } from './harness.ts';

/**
 * DKLs23 end to end in memory, over keys from our own DKG: signatures verify with @noble/curves
 * (low s) and recover to the key; derived keys match @scure/bip32; every check names its culprit.
 */
const secp = getGroup('secp256k1');
const K23 = ecdsaKeys(2, 3, 'k23');

function rootOf(keys: EcdsaKeySet) {
  const r = Object.values(keys.results)[0];
  return { publicKey: fromHex(r.groupCommitments[0]), chainCode: fromHex(r.chainCode!) };
}
const binding = (s: string) => sha256(utf8(s));

test('key generation: every party agrees on the key and chain code; the shares interpolate to it', () => {
  const rs = Object.values(K23.results);
  for (const r of rs) {
    assert.equal(r.groupCommitments[0], rs[0].groupCommitments[0]);
    assert.match(r.chainCode!, /^[0-9a-f]{64}$/);
    assert.equal(r.chainCode, rs[0].chainCode);
    assert.deepEqual(Object.keys(r.pairs!).sort(), K23.parties.filter((p) => p !== r.self).sort());
  }
  const idx = [1n, 2n];
  const sk = [rs[0], rs[1]].reduce((acc, r, i) => secp.Fn.add(acc, secp.Fn.mul(secp.decodeScalar(r.secretShare), lagrangeCoefficient(secp, idx, idx[i]))), 0n);
  assert.equal(toHex(secp256k1.getPublicKey(secp.encodeScalar(sk), true)), rs[0].groupCommitments[0]);
  // Base-OT outputs of each ordered pair are correlated as OT demands: Alice's seed c is Bob's m_{Δ_c}.
  const a = K23.results['node-a'].pairs!['node-b'];
  const b = K23.results['node-b'].pairs!['node-a'];
  const delta = fromHex(a.alice.delta);
  const seeds = fromHex(a.alice.seeds);
  const s0 = fromHex(b.bob.seeds0);
  const s1 = fromHex(b.bob.seeds1);
  for (let c = 0; c < 128; c++) {
    const bit = (delta[c >> 3] >> (c & 7)) & 1;
    assert.deepEqual(seeds.subarray(32 * c, 32 * c + 32), (bit ? s1 : s0).subarray(32 * c, 32 * c + 32));
  }
  assert.equal(a.mask, b.mask, 'the pair shares one mask key');
});

test('every 2-of-3 quorum presigns and signs; noble verifies (low s) and recovers the key', () => {
  const root = rootOf(K23);
  for (const quorum of [['node-a', 'node-b'], ['node-a', 'node-c'], ['node-b', 'node-c']]) {
    const out = runPresign(K23, quorum, ['p1', 'p2'], {}, `presign.${quorum.join('')}`);
    assert.deepEqual(out.errors, {});
    for (const k of [0, 1]) {
      const digest = sha256(utf8(`message ${quorum} ${k}`));
      const shares = Object.fromEntries(quorum.map((p) => [p, out.shares[p][k]]));
      const sig = signWithShares(K23, shares, digest, root.publicKey, 0n, binding(`req-${k}`));
      assert.ok(secp256k1.verify(sig.signature, digest, root.publicKey, { prehash: false, lowS: true }));
      const recovered = secp256k1.Signature.fromBytes(sig.signature, 'compact').addRecoveryBit(sig.recoveryId).recoverPublicKey(digest).toBytes(true);
      assert.equal(toHex(recovered), toHex(root.publicKey));
    }
  }
});

test('a 3-of-4 quorum of a 3-of-4 key signs', () => {
  const keys = ecdsaKeys(3, 4, 'k34');
  const root = rootOf(keys);
  const quorum = ['node-a', 'node-c', 'node-d'];
  const out = runPresign(keys, quorum, ['x'], {}, 'presign.34');
  assert.deepEqual(out.errors, {});
  const digest = sha256(utf8('three of four'));
  const sig = signWithShares(keys, Object.fromEntries(quorum.map((p) => [p, out.shares[p][0]])), digest, root.publicKey, 0n, binding('r'));
  assert.ok(secp256k1.verify(sig.signature, digest, root.publicKey, { prehash: false }));
});

test('pooled presignatures sign under BIP32-derived keys (re-randomised at signing time); keys match @scure/bip32', () => {
  const root = rootOf(K23);
  const xpub = xpubOf(root.publicKey, root.chainCode);
  const quorum = ['node-b', 'node-c'];
  const paths = ['m/44/60/0/0/7', 'm/0', 'm/1/2/3/4/5/6', 'm/2147483647'];
  const out = runPresign(K23, quorum, paths.map((_, i) => `d${i}`), {}, 'presign.derived');
  assert.deepEqual(out.errors, {});
  paths.forEach((path, i) => {
    const d = deriveNonHardened(root, parseDerivationPath(path));
    assert.equal(toHex(d.publicKey), toHex(HDKey.fromExtendedKey(xpub).derive(path).publicKey!));
    const digest = sha256(utf8(`derived ${path}`));
    const sig = signWithShares(K23, Object.fromEntries(quorum.map((p) => [p, out.shares[p][i]])), digest, d.publicKey, d.tweak, binding(path));
    assert.ok(secp256k1.verify(sig.signature, digest, d.publicKey, { prehash: false, lowS: true }), path);
    assert.ok(!secp256k1.verify(sig.signature, digest, root.publicKey, { prehash: false }), 'not under the root key');
  });
});

test('a tampered partial signature makes the combiner refuse (no bad signature is returned)', () => {
  const root = rootOf(K23);
  const quorum = ['node-a', 'node-b'];
  const out = runPresign(K23, quorum, ['t'], {}, 'presign.tamper');
  const shares = Object.fromEntries(quorum.map((p) => [p, out.shares[p][0]]));
  assert.throws(() => signWithShares(K23, shares, sha256(utf8('m')), root.publicKey, 0n, binding('b'), (from, p) => (from === 'node-b' ? { ...p, w: toHex(secp.encodeScalar(secp.Fn.add(secp.decodeScalar(fromHex(p.w)), 1n))) } : p)),
    (e: any) => e.code === 'sign.invalid_signature');
});

// ---------------------------------------------------------------- identifiable abort

const flipHex = (h: string, at = 0) => h.slice(0, at) + (h[at] === '0' ? '1' : '0') + h.slice(at + 1);

function expectAbort(out: { errors: Record<string, any> }, victim: string, code: string, culprit: string) {
  const e = out.errors[victim];
  assert.ok(e, `${victim} should abort`);
  assert.equal(e.code, code, `${victim}: ${e.message}`);
  assert.equal(e.culprit, culprit);
}

test('key generation: a tampered base-OT proof (either role) names its sender', () => {
  for (const role of ['asAlice', 'asBob'] as const) {
    const net = makeNet('ecdsa-secp256k1', 2, 3, `bad-ot-${role}`);
    const out = runDkg(net, {
      mutate1: (from, p) => {
        if (from !== 'node-c') return p;
        const m = structuredClone(p);
        const pair = (m.ecdsa!.pairs['node-a'] as any)[role];
        if (role === 'asAlice') pair.pairs[3] = flipHex(pair.pairs[3], 70);
        else pair.proof = flipHex(pair.proof, 70);
        return m;
      },
    });
    assert.deepEqual(abortsOf(out, ['node-a']), [{ code: 'dkls.base_ot_proof', culprit: 'node-c' }], role);
  }
});

test('key generation: a chain-code seed that does not open its commitment names its sender', () => {
  const net = makeNet('ecdsa-secp256k1', 2, 3, 'bad-cc');
  const out = runDkg(net, { mutate2: (from, p) => (from === 'node-b' ? { ...p, ecdsa: { chainCodeSeed: flipHex(p.ecdsa!.chainCodeSeed) } } : p) });
  for (const v of ['node-a', 'node-c']) assert.deepEqual(abortsOf(out, [v]), [{ code: 'dkls.bad_opening', culprit: 'node-b' }]);
});

test('presigning: a tampered OT-extension message fails the KOS check and names the receiver that sent it', () => {
  const out = runPresign(K23, ['node-a', 'node-b'], ['q'], {
    mutate: (round, from, to, p) => { if (round === 'presign/1' && from === 'node-b' && to !== '*') p.ote[0].u = flipHex(p.ote[0].u, 400); return p; },
  }, 'presign.bad-ote');
  expectAbort(out, 'node-a', 'dkls.ote_check', 'node-b');
});

test('presigning: a tampered multiplication message fails the multiplication check and names its sender', () => {
  const out = runPresign(K23, ['node-a', 'node-b'], ['q'], {
    mutate: (round, from, _to, p) => { if (round === 'presign/2' && from === 'node-a') p.items[0].mul.tau = flipHex(p.items[0].mul.tau, 1000); return p; },
  }, 'presign.bad-mul');
  expectAbort(out, 'node-b', 'dkls.mul_check', 'node-a');
});

test('presigning: an instance key that does not open its commitment names its sender', () => {
  const out = runPresign(K23, ['node-b', 'node-c'], ['q'], {
    mutate: (round, from, _to, p) => { if (round === 'presign/2' && from === 'node-c') p.items[0].salt = flipHex(p.items[0].salt); return p; },
  }, 'presign.bad-opening');
  expectAbort(out, 'node-b', 'presign.bad_opening', 'node-c');
});

test('presigning: a wrong Γ (inputs other than its committed R or key share) fails the consistency check', () => {
  for (const field of ['gammaU', 'gammaV'] as const) {
    const out = runPresign(K23, ['node-a', 'node-c'], ['q'], {
      mutate: (round, from, _to, p) => { if (round === 'presign/2' && from === 'node-a') p.items[0][field] = toHex(secp.base.multiply(7n).toBytes()); return p; },
    }, `presign.bad-${field}`);
    expectAbort(out, 'node-c', 'presign.consistency', 'node-a');
  }
});

test('presigning: a multiplication run on another input than the committed one fails the consistency check', () => {
  // gamma is Alice's input correction: shifting it is a multiplication with another r_i, which
  // the OT-level checks cannot see; DKLs23's Γ check does.
  const out = runPresign(K23, ['node-a', 'node-b'], ['q'], {
    mutate: (round, from, _to, p) => { if (round === 'presign/2' && from === 'node-b') p.items[0].mul.gamma[0] = toHex(secp.encodeScalar(secp.Fn.add(secp.decodeScalar(fromHex(p.items[0].mul.gamma[0])), 5n))); return p; },
  }, 'presign.bad-gamma');
  expectAbort(out, 'node-a', 'presign.consistency', 'node-b');
});

test('presigning: a commitment signed twice (equivocation) names its signer; a forged echo names the echoer', () => {
  const keys = ecdsaKeys(3, 3, 'k33');
  const quorum = ['node-a', 'node-b', 'node-c'];
  const equivocated = runPresign(keys, quorum, ['e'], {
    deliverBroadcast: (from, to, msg, ids) => {
      if (from !== 'node-a' || to !== 'node-c') return msg;
      const payload = { commitments: [toHex(sha256(utf8('another commitment')))] };
      return { from, payload, signature: ids.sign(from, 'presign/1', '*', payloadDigest(payload)) };
    },
  }, 'presign.equivocation');
  // node-c received a different (validly signed) commitment; node-b's echo shows the other one.
  expectAbort(equivocated, 'node-b', 'presign.equivocation', 'node-a');
  expectAbort(equivocated, 'node-c', 'presign.equivocation', 'node-a');

  const forged = runPresign(keys, quorum, ['f'], {
    mutate: (round, from, to, p) => { if (round === 'presign/2' && from === 'node-b' && to === 'node-c') p.echoes['node-a'] = { digest: toHex(sha256(utf8('x'))), signature: p.echoes['node-a'].signature }; return p; },
  }, 'presign.forged-echo');
  expectAbort(forged, 'node-c', 'presign.bad_echo', 'node-b');
});

test('two sessions under one presignature id (a replay, or a restored node) reveal no key share', () => {
  // The attack a coordinator could run if both sessions expanded the same OT-extension PRG and
  // hashed the same rows: on a row where Bob's choice differs between the runs, Alice's two
  // random OTs swap, so (τ + τ' + γ + γ')/2 on the key-share slot is her λ·x. Fresh nonces of
  // Bob (PRG) and Alice (row hashes) make the two runs unrelated.
  const quorum = ['node-a', 'node-b'];
  const twice = [runPresign(K23, quorum, ['same-id'], {}, 'replay-1'), runPresign(K23, quorum, ['same-id'], {}, 'replay-2')];
  const lam = (p: string) => lagrangeCoefficient(secp, [1n, 2n], BigInt(quorum.indexOf(p) + 1));
  for (const alice of quorum) {
    const truth = secp.Fn.mul(secp.decodeScalar(K23.results[alice].secretShare), lam(alice));
    const [m1, m2] = twice.map((o) => o.round2[`${alice}>${quorum.find((q) => q !== alice)}`].items[0].mul);
    const tau = (m: { tau: string }, k: number) => BigInt('0x' + m.tau.slice((416 + k) * 64, (416 + k + 1) * 64));
    for (let k = 0; k < 16; k++) {
      const s = secp.Fn.div(secp.Fn.add(secp.Fn.add(tau(m1, k), tau(m2, k)), secp.Fn.add(BigInt('0x' + m1.gamma[1]), BigInt('0x' + m2.gamma[1]))), 2n);
      assert.notEqual(s, truth, `row ${k} of ${alice}'s multiplications reveals its key share`);
    }
  }
});
