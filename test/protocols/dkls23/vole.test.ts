import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex, toHex, utf8 } from '../../../src/common/bytes.ts';
import { getGroup } from '../../../src/crypto/group.ts';
import type { Rng } from '../../../src/crypto/random.ts';
import { hashToScalar } from '../../../src/crypto/transcript.ts';
import { KAPPA, XI, decodeOteMessage, oteReceiverOutputs, oteSenderOutputs } from '../../../src/protocols/dkls23/ote.ts';
import {
  L, OT_WIDTH, freshSid, gadgetVector, mulChallenges, verifyRDigest, voleReceiverFinish, voleReceiverRound1, voleSenderRound2,
  type MulMessage, type VoleOteMessage as OteMessage, type VoleReceiverSetup, type VoleSenderSetup,
} from '../../../src/protocols/dkls23/vole.ts';
import { seededRng } from '../../crypto/rng.ts';
import { abortOf } from './abort.ts';

const G = getGroup('secp256k1');
const n = G.order;
const mod = (x: bigint) => ((x % n) + n) % n;
const bit = (bytes: Uint8Array, i: number) => (bytes[i >> 3] >> (i & 7)) & 1;
const hex32 = (s: bigint) => s.toString(16).padStart(64, '0');

function pairSetup(rng: Rng): { alice: VoleSenderSetup; bob: VoleReceiverSetup } {
  const delta = rng(KAPPA / 8);
  const seeds0 = Array.from({ length: KAPPA }, () => rng(32));
  const seeds1 = Array.from({ length: KAPPA }, () => rng(32));
  return { alice: { delta, seeds: seeds0.map((s, c) => (bit(delta, c) ? seeds1[c] : s)) }, bob: { seeds0, seeds1 } };
}

/** One multiplication, with the messages passed through JSON as on the wire. */
function run(rng: Rng, setup = pairSetup(rng), sid = rng(32), inputs = [G.randomScalar(rng), G.randomScalar(rng)]) {
  const gadget = gadgetVector(utf8('test-gadget'));
  const r1 = voleReceiverRound1(setup.bob, sid, gadget, rng);
  const ote: OteMessage = JSON.parse(JSON.stringify(r1.message));
  const r2 = voleSenderRound2(setup.alice, sid, gadget, inputs, ote, 'bob', rng);
  const mul: MulMessage = JSON.parse(JSON.stringify(r2.message));
  const finish = (m: MulMessage = mul) => voleReceiverFinish(setup.bob, sid, gadget, r1.chi, r1.keep, m, 'alice');
  return { setup, sid, gadget, inputs, r1, r2, ote, mul, finish };
}

const badState = (e: unknown) => (e as { code?: string }).code === 'dkls.bad_state';

describe('gadgetVector', () => {
  it('is XI public scalars hashed from the context and the index', () => {
    const g = gadgetVector(utf8('ctx'));
    assert.equal(g.length, XI);
    assert.deepEqual(gadgetVector(utf8('ctx')), g);
    assert.equal(new Set(g).size, XI);
    assert.equal(g[0], hashToScalar(G, 'custos/dkls23/gadget-vector/v1', [utf8('ctx'), 0]));
    assert.equal(g[XI - 1], hashToScalar(G, 'custos/dkls23/gadget-vector/v1', [utf8('ctx'), XI - 1]));
    assert.notDeepEqual(gadgetVector(utf8('ctx2')), g);
  });
});

describe('random VOLE (DKLs23 Functionality 3.5 via DKLs19 Protocol 1)', () => {
  it('gives c_l + d_l = a_l·chi, with chi = Σ g_k x_k, for independent setups', () => {
    const rng = seededRng('vole/correct');
    for (let i = 0; i < 4; i++) {
      const inputs = i === 0 ? [0n, n - 1n] : [G.randomScalar(rng), G.randomScalar(rng)];
      const t = run(rng, pairSetup(rng), rng(32), inputs);
      const d = t.finish();
      assert.equal(d.length, L);
      for (let l = 0; l < L; l++) assert.equal(mod(t.r2.outputs[l] + d[l]), mod(inputs[l] * t.r1.chi), `run ${i}, input ${l}`);
      const bits = fromHex(t.r1.keep.bits);
      assert.equal(t.r1.chi, mod(t.gadget.reduce((acc, g, k) => acc + (bit(bits, k) ? g : 0n), 0n)));
    }
  });

  it('reuses one setup across sessions, with a fresh chi each time', () => {
    const rng = seededRng('vole/chi');
    const setup = pairSetup(rng);
    const chis = new Set<bigint>();
    for (let i = 0; i < 8; i++) {
      const t = run(rng, setup);
      const d = t.finish();
      for (let l = 0; l < L; l++) assert.equal(mod(t.r2.outputs[l] + d[l]), mod(t.inputs[l] * t.r1.chi));
      chis.add(t.r1.chi);
    }
    assert.equal(chis.size, 8);
    // chi spreads over the field: its top byte is not stuck (the gadget entries are full-size).
    assert.ok(new Set([...chis].map((c) => c >> 248n)).size > 1);
  });

  it('is deterministic under a seeded rng', () => {
    const a = run(seededRng('vole/det'));
    const b = run(seededRng('vole/det'));
    assert.deepEqual(a.ote, b.ote);
    assert.deepEqual(a.mul, b.mul);
    assert.deepEqual(a.r1.keep, b.r1.keep);
    assert.deepEqual(a.r2.outputs, b.r2.outputs);
  });

  it('has messages of the documented sizes', () => {
    const t = run(seededRng('vole/sizes'));
    assert.equal(t.ote.u.length, 2 * KAPPA * 78);
    assert.equal(t.ote.verifyX.length, 2 * 26);
    assert.equal(t.ote.verifyT.length, 2 * KAPPA * 26);
    assert.equal(t.mul.tau.length, 2 * OT_WIDTH * XI * 32);
    assert.equal(t.mul.verifyR.length, 64);
    assert.equal(t.mul.verifyU.length, L);
    assert.equal(t.mul.gamma.length, L);
    assert.equal(t.r1.keep.bits.length, 2 * 78);
    assert.ok([t.ote.u, t.mul.tau, t.r1.keep.bits].every((s) => /^[0-9a-f]+$/.test(s)));
  });
});

describe('a cheating Bob', () => {
  const rng = seededRng('vole/cheating-bob');
  const t = run(rng);
  const flip = (s: string, at: number) => s.slice(0, at) + (parseInt(s[at], 16) ^ 1).toString(16) + s.slice(at + 1);

  it('is caught by Alice when he alters u (one bit of one column), verifyX or verifyT', () => {
    for (const [field, at] of [['u', 2 * (17 * 78 + 40)], ['u', 1], ['verifyX', 10], ['verifyT', 2 * 26 * 100]] as const) {
      const m = { ...t.ote, [field]: flip(t.ote[field], at) };
      assert.throws(() => voleSenderRound2(t.setup.alice, t.sid, t.gadget, t.inputs, m, 'bob', rng), abortOf('dkls.ote_check', 'bob'), field);
    }
  });

  it('is refused, and named, when his message is malformed', () => {
    const o = t.ote;
    const bad: unknown[] = [null, [], {}, { ...o, u: o.u.slice(2) }, { ...o, u: o.u.slice(0, -1) + 'g' }, { ...o, verifyX: '' }, { ...o, verifyT: 1 }];
    for (const m of bad) assert.throws(() => voleSenderRound2(t.setup.alice, t.sid, t.gadget, t.inputs, m as OteMessage, 'bob', rng), abortOf('dkls.bad_message', 'bob'));
  });
});

describe('a cheating Alice', () => {
  const rng = seededRng('vole/cheating-alice');
  const t = run(rng);
  const bits = fromHex(t.r1.keep.bits);
  const x = (k: number) => BigInt(bit(bits, k));
  const one = [...Array(XI).keys()].find((k) => bit(bits, k) === 1)!;
  const zero = [...Array(XI).keys()].find((k) => bit(bits, k) === 0)!;
  const withTau = (w: number, k: number, delta: bigint): MulMessage => {
    const at = (w * XI + k) * 64;
    const v = mod(BigInt('0x' + t.mul.tau.slice(at, at + 64)) + delta);
    return { ...t.mul, tau: t.mul.tau.slice(0, at) + hex32(v) + t.mul.tau.slice(at + 64) };
  };

  // A malicious Alice run by hand: her random OTs, Bob's (to state what his check would compute),
  // and her consistent answer (r and u for the real challenges) to whatever τ she chose.
  // Her session ids: Bob's fresh one from his nonce, hers from a nonce she picks.
  const aliceNonce = new Uint8Array(32).fill(7);
  const sidB = freshSid(t.sid, 'bob', fromHex(t.ote.nonce));
  const sidA = freshSid(sidB, 'alice', aliceNonce);
  const { v0, v1 } = oteSenderOutputs(t.setup.alice.delta, t.setup.alice.seeds, sidB, decodeOteMessage(t.ote, 'bob'), OT_WIDTH, 'bob', sidA);
  const vB = oteReceiverOutputs(t.setup.bob.seeds0, sidB, OT_WIDTH, sidA);
  const aT = [G.randomScalar(rng), G.randomScalar(rng)], aH = [G.randomScalar(rng), G.randomScalar(rng)];
  const tauFor = (corr: (w: number, k: number) => bigint) => Array.from({ length: OT_WIDTH * XI }, (_, i) => mod(v1[i] - v0[i] + corr(Math.floor(i / XI), i % XI)));
  const answer = (tau: bigint[]): MulMessage => {
    const tauHex = tau.map(hex32).join('');
    const { chiTilde, chiHat } = mulChallenges(sidA, fromHex(t.r1.keep.transcript), fromHex(tauHex));
    const r = Array.from({ length: L * XI }, (_, i) => hex32(mod(chiTilde[Math.floor(i / XI)] * v0[i] + chiHat[Math.floor(i / XI)] * v0[L * XI + i])));
    return {
      tau: tauHex,
      verifyR: toHex(verifyRDigest(sidA, r)),
      verifyU: [0, 1].map((l) => hex32(mod(chiTilde[l] * aT[l] + chiHat[l] * aH[l]))),
      gamma: [0, 1].map((l) => hex32(mod(t.inputs[l] - aT[l]))),
      nonce: toHex(aliceNonce),
    };
  };
  // Her best guess of the challenges before fixing τ: those of the honest τ. If the challenges did
  // not depend on τ (derived from Bob's message alone), the guess would be exact.
  const honestTau = tauFor((w) => (w < L ? aT : aH)[w % L]);
  const guess = mulChallenges(sidA, fromHex(t.r1.keep.transcript), fromHex(honestTau.map(hex32).join('')));
  const aliceOutput = (l: number) => t.gadget.reduce((acc, g, k) => acc + g * v0[l * XI + k], 0n);
  // Correlations (ã + 1, β) on row k0 with χ̃*·(ã + 1) + χ̂*·β = χ̃*·ã + χ̂*·â, honest elsewhere.
  const offLine = (k0: number, pT: bigint[], pH: bigint[]) => (w: number, k: number) => {
    const l = w % L;
    if (w < L) return k === k0 ? aT[l] + 1n : aT[l];
    return k === k0 ? mod(aH[l] - pT[l] * G.Fn.inv(pH[l])) : aH[l];
  };

  it('passes the honest run, and a hand-made honest answer', () => {
    const d = t.finish();
    for (let l = 0; l < L; l++) assert.equal(mod(t.r2.outputs[l] + d[l]), mod(t.inputs[l] * t.r1.chi));
    const d2 = t.finish(answer(honestTau));
    for (let l = 0; l < L; l++) assert.equal(mod(aliceOutput(l) + d2[l]), mod(t.inputs[l] * t.r1.chi));
  });

  it('is caught by Bob when she alters one τ entry afterwards, for each width and either choice bit', () => {
    // τ enters the challenges, so r and u made for the old τ no longer fit.
    for (let w = 0; w < OT_WIDTH; w++) {
      for (const k of [one, zero]) assert.throws(() => t.finish(withTau(w, k, 1n)), abortOf('dkls.mul_check', 'alice'), `width ${w} row ${k}`);
    }
  });

  it('is caught when she varies her correlations per row along the line χ̃·α + χ̂·β = u of challenges fixed before τ', () => {
    // The attack that a challenge derived from Bob's message alone would allow: Alice knows χ*
    // before sending τ and moves one row's correlations along the line χ̃*·α + χ̂*·β = u*.
    const pT = guess.chiTilde, pH = guess.chiHat;
    const tau = tauFor(offLine(one, pT, pH));
    // Had χ = χ*, Bob's check r = x·u − χ̃·z̃^B − χ̂·ẑ^B would pass on every row, while the product
    // is off by g_{k0}·x_{k0}: an error that depends on one of Bob's secret bits.
    for (let l = 0; l < L; l++) {
      const uStar = mod(pT[l] * aT[l] + pH[l] * aH[l]);
      for (let k = 0; k < XI; k++) {
        const it = l * XI + k, ih = (L + l) * XI + k;
        const rA = mod(pT[l] * v0[it] + pH[l] * v0[ih]);
        const rB = mod(x(k) * uStar - pT[l] * (x(k) * tau[it] - vB[it]) - pH[l] * (x(k) * tau[ih] - vB[ih]));
        assert.equal(rB, rA, `row ${k}`);
      }
      const d = t.gadget.reduce((acc, g, k) => acc + g * (x(k) * tau[l * XI + k] - vB[l * XI + k]), 0n);
      assert.equal(mod(aliceOutput(l) + d), mod(aT[l] * t.r1.chi + t.gadget[one]));
    }
    // The real challenges depend on τ: her best answer (r and u for them) is caught, naming her.
    assert.throws(() => t.finish(answer(tau)), abortOf('dkls.mul_check', 'alice'));
  });

  it('goes unnoticed, and changes nothing, with an off-line row where Bob\'s choice bit is 0', () => {
    // Bob ignores τ_k when x_k = 0, so whether he aborts depends on x_k: the selective-failure
    // leak of one choice bit per abort that DKLs19 absorbs with the 2s extra gadget positions.
    const pT = guess.chiTilde, pH = guess.chiHat;
    const d = t.finish(answer(tauFor(offLine(zero, pT, pH))));
    for (let l = 0; l < L; l++) assert.equal(mod(aliceOutput(l) + d[l]), mod(t.inputs[l] * t.r1.chi));
  });

  it('is caught by Bob when she alters verifyR or verifyU', () => {
    const r = t.mul.verifyR;
    assert.throws(() => t.finish({ ...t.mul, verifyR: (r[0] === '0' ? '1' : '0') + r.slice(1) }), abortOf('dkls.mul_check', 'alice'));
    for (let l = 0; l < L; l++) {
      const verifyU = t.mul.verifyU.slice();
      verifyU[l] = hex32(mod(BigInt('0x' + verifyU[l]) + 1n));
      assert.throws(() => t.finish({ ...t.mul, verifyU }), abortOf('dkls.mul_check', 'alice'), `verifyU[${l}]`);
    }
  });

  it('shifts Bob\'s output by chi·δ, undetected here, when she alters gamma', () => {
    // By design: gamma = a − ã is Alice's input adjustment and no check of Protocol 1 binds it; a
    // wrong gamma is the same as a different input a. DKLs23 Protocol 3.6 catches it with its Γ
    // consistency checks on the presignature, which is where the culprit is named.
    const gamma = t.mul.gamma.slice();
    gamma[1] = hex32(mod(BigInt('0x' + gamma[1]) + 5n));
    const d = t.finish({ ...t.mul, gamma });
    assert.equal(mod(t.r2.outputs[0] + d[0]), mod(t.inputs[0] * t.r1.chi));
    assert.equal(mod(t.r2.outputs[1] + d[1]), mod((t.inputs[1] + 5n) * t.r1.chi));
  });

  it('is refused, and named, when her message is malformed', () => {
    const m = t.mul;
    const bad: unknown[] = [
      null, 'x', {},
      { ...m, tau: m.tau.slice(64) },
      { ...m, tau: m.tau + '00' },
      { ...m, tau: 'x' + m.tau.slice(1) },
      { ...m, tau: m.tau.slice(0, -2) + ' 1' },
      { ...m, tau: hex32(n) + m.tau.slice(64) },
      { ...m, tau: m.tau.slice(0, 64 * 100) + 'f'.repeat(64) + m.tau.slice(64 * 101) },
      { ...m, verifyR: m.verifyR.slice(2) },
      { ...m, verifyR: undefined },
      { ...m, verifyU: m.verifyU.slice(1) },
      { ...m, verifyU: [m.verifyU[0], hex32(n)] },
      { ...m, verifyU: m.verifyU[0] },
      { ...m, gamma: [m.gamma[0], m.gamma[1], m.gamma[1]] },
      { ...m, gamma: [m.gamma[0], m.gamma[1].slice(2)] },
      { ...m, gamma: [m.gamma[0], 'g' + m.gamma[1].slice(1)] },
      { ...m, gamma: [m.gamma[0], 7] },
    ];
    for (const b of bad) assert.throws(() => t.finish(b as MulMessage), abortOf('dkls.bad_message', 'alice'), JSON.stringify(b)?.slice(0, 60));
  });
});

describe('local state', () => {
  const rng = seededRng('vole/state');
  const t = run(rng);

  it('refuses wrong setups, gadgets, inputs and kept state without naming a peer', () => {
    assert.throws(() => voleReceiverRound1({ ...t.setup.bob, seeds1: t.setup.bob.seeds1.slice(1) }, t.sid, t.gadget, rng), badState);
    assert.throws(() => voleReceiverRound1(t.setup.bob, t.sid, t.gadget.slice(1), rng), badState);
    assert.throws(() => voleReceiverRound1(t.setup.bob, t.sid, [...t.gadget.slice(1), n], rng), badState);
    assert.throws(() => voleSenderRound2({ ...t.setup.alice, delta: new Uint8Array(15) }, t.sid, t.gadget, t.inputs, t.ote, 'bob', rng), badState);
    assert.throws(() => voleSenderRound2(t.setup.alice, t.sid, t.gadget, [1n], t.ote, 'bob', rng), badState);
    assert.throws(() => voleSenderRound2(t.setup.alice, t.sid, t.gadget, [1n, n], t.ote, 'bob', rng), badState);
    assert.throws(() => voleReceiverFinish(t.setup.bob, t.sid, t.gadget, mod(t.r1.chi + 1n), t.r1.keep, t.mul, 'alice'), badState);
    assert.throws(() => voleReceiverFinish(t.setup.bob, t.sid, t.gadget, t.r1.chi, { ...t.r1.keep, bits: t.r1.keep.bits.slice(2) }, t.mul, 'alice'), badState);
    assert.throws(() => voleReceiverFinish(t.setup.bob, t.sid, t.gadget, t.r1.chi, { ...t.r1.keep, transcript: 'ab' }, t.mul, 'alice'), badState);
  });
});
