import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { utf8 } from '../../../src/common/bytes.ts';
import {
  COLUMN_BYTES, EXTENDED, KAPPA, M, OT_SEC, ROW_BYTES, STAT, XI,
  checkValues, decodeOteMessage, encodeOteMessage, expandSeeds, oteChallenge, oteReceiverExtend, oteReceiverOutputs,
  oteSenderExtend, oteSenderOutputs, randomizeRows, transposeRows, type OteMessageBytes,
} from '../../../src/protocols/dkls23/ote.ts';
import type { Rng } from '../../../src/crypto/random.ts';
import { gfMul } from '../../../src/protocols/dkls23/gf2-208.ts';
import { seededRng } from '../../crypto/rng.ts';
import { abortOf } from './abort.ts';

const bit = (bytes: Uint8Array, i: number) => (bytes[i >> 3] >> (i & 7)) & 1;

function pairSetup(rng: Rng) {
  const delta = rng(KAPPA / 8);
  const seeds0 = Array.from({ length: KAPPA }, () => rng(32));
  const seeds1 = Array.from({ length: KAPPA }, () => rng(32));
  const seeds = seeds0.map((s, c) => (bit(delta, c) ? seeds1[c] : s));
  return { delta, seeds0, seeds1, seeds };
}

function naiveRows(columns: Uint8Array, rows: number): Uint8Array {
  const out = new Uint8Array(rows * ROW_BYTES);
  for (let k = 0; k < rows; k++) {
    for (let c = 0; c < KAPPA; c++) if (bit(columns, c * COLUMN_BYTES * 8 + k)) out[k * ROW_BYTES + (c >> 3)] |= 1 << (c & 7);
  }
  return out;
}


describe('OT extension parameters', () => {
  it('are the fixed KOS/DKLs constants', () => {
    assert.deepEqual([KAPPA, STAT, XI, OT_SEC, EXTENDED, M, COLUMN_BYTES, ROW_BYTES], [128, 80, 416, 208, 624, 2, 78, 16]);
  });
});

describe('transposeRows', () => {
  const rng = seededRng('ote/transpose');
  it('matches a bit-by-bit reference on random matrices', () => {
    for (let i = 0; i < 3; i++) {
      const m = rng(KAPPA * COLUMN_BYTES);
      assert.deepEqual(transposeRows(m, XI), naiveRows(m, XI));
      assert.deepEqual(transposeRows(m, 32), naiveRows(m, 32));
    }
  });
  it('sends bit k of column c to bit c of row k', () => {
    for (const [c, k] of [[0, 0], [127, 415], [5, 300], [64, 31], [33, 32]]) {
      const m = new Uint8Array(KAPPA * COLUMN_BYTES);
      m[c * COLUMN_BYTES + (k >> 3)] = 1 << (k & 7);
      const rows = transposeRows(m, XI);
      const expected = new Uint8Array(XI * ROW_BYTES);
      expected[k * ROW_BYTES + (c >> 3)] = 1 << (c & 7);
      assert.deepEqual(rows, expected, `column ${c} row ${k}`);
    }
  });
});

describe('the PRG', () => {
  const rng = seededRng('ote/prg');
  const { seeds0 } = pairSetup(rng);
  it('is deterministic, and bound to the session id and the column index', () => {
    const sid = utf8('sid-1');
    const a = expandSeeds(seeds0, sid);
    assert.equal(a.length, KAPPA * COLUMN_BYTES);
    assert.deepEqual(expandSeeds(seeds0, sid), a);
    const b = expandSeeds(seeds0, utf8('sid-2'));
    for (let c = 0; c < KAPPA; c++) assert.notDeepEqual(b.subarray(c * COLUMN_BYTES, (c + 1) * COLUMN_BYTES), a.subarray(c * COLUMN_BYTES, (c + 1) * COLUMN_BYTES));
    const same = expandSeeds(Array.from({ length: KAPPA }, () => seeds0[0]), sid);
    assert.notDeepEqual(same.subarray(0, COLUMN_BYTES), same.subarray(COLUMN_BYTES, 2 * COLUMN_BYTES));
  });
});

describe('KOS15 extension with the Fig. 10 check', () => {
  const rng = seededRng('ote/extension');
  const setup = pairSetup(rng);
  const sid = utf8('ote-test-session');
  const bits = rng(COLUMN_BYTES);
  const msg = oteReceiverExtend(setup.seeds0, setup.seeds1, sid, bits);
  const clone = (m: OteMessageBytes): OteMessageBytes => ({ u: m.u.slice(), verifyX: m.verifyX.slice(), verifyT: m.verifyT.slice() });

  it('gives Alice q with row k = t_k ⊕ x_k·Δ', () => {
    const q = transposeRows(oteSenderExtend(setup.delta, setup.seeds, sid, msg, 'bob'), XI);
    const t = transposeRows(expandSeeds(setup.seeds0, sid), XI);
    for (let k = 0; k < XI; k++) {
      const expected = t.subarray(k * ROW_BYTES, (k + 1) * ROW_BYTES).map((v, i) => v ^ (bit(bits, k) ? setup.delta[i] : 0));
      assert.deepEqual(q.subarray(k * ROW_BYTES, (k + 1) * ROW_BYTES), expected, `row ${k}`);
    }
  });

  it('gives random OTs: Bob holds v_{x_k}, Alice both, distinct per row, width and choice', () => {
    const { v0, v1 } = oteSenderOutputs(setup.delta, setup.seeds, sid, msg, 4, 'bob');
    const v = oteReceiverOutputs(setup.seeds0, sid, 4);
    assert.equal(v.length, 4 * XI);
    for (let w = 0; w < 4; w++) {
      for (let k = 0; k < XI; k++) {
        const i = w * XI + k;
        assert.equal(v[i], bit(bits, k) ? v1[i] : v0[i]);
        assert.notEqual(v0[i], v1[i]);
      }
    }
    assert.equal(new Set([...v0, ...v1]).size, 8 * XI);
  });

  it('randomises each row under the session id, the row index and the width index', () => {
    const rows = rng(XI * ROW_BYTES);
    const a = randomizeRows(sid, rows, 2);
    assert.deepEqual(randomizeRows(sid, rows, 2), a);
    assert.notDeepEqual(randomizeRows(utf8('other'), rows, 2), a);
    const sameRows = new Uint8Array(XI * ROW_BYTES);
    for (let k = 0; k < XI; k++) sameRows.set(rows.subarray(0, ROW_BYTES), k * ROW_BYTES);
    const b = randomizeRows(sid, sameRows, 2);
    assert.equal(new Set(b).size, 2 * XI);
    assert.ok(b.every((s) => s >= 0n && s < 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n));
  });

  it('derives the check challenges from the session id and every bit of u', () => {
    const chis = oteChallenge(sid, msg.u);
    assert.equal(chis.length, M);
    assert.ok(chis.every((c) => c.length === 26));
    const u = msg.u.slice();
    u[KAPPA * COLUMN_BYTES - 1] ^= 0x80;
    assert.notDeepEqual(oteChallenge(sid, u), chis);
    assert.notDeepEqual(oteChallenge(utf8('x'), msg.u), chis);
  });

  it('computes the check values as KOS Fig. 10: χ_1·block_1 + χ_2·block_2 + the padding block', () => {
    // The unmultiplied padding block is what hides Bob's choice bits in verifyX.
    const chis = oteChallenge(sid, msg.u);
    const t0 = expandSeeds(setup.seeds0, sid);
    const expect = (col: Uint8Array) => {
      const b = (j: number) => col.subarray(26 * j, 26 * (j + 1));
      return gfMul(b(0), chis[0]).map((v, i) => v ^ gfMul(b(1), chis[1])[i] ^ b(2)[i]);
    };
    assert.deepEqual(msg.verifyX, expect(bits));
    for (const c of [0, 77, 127]) assert.deepEqual(msg.verifyT.subarray(26 * c, 26 * (c + 1)), expect(t0.subarray(c * COLUMN_BYTES, (c + 1) * COLUMN_BYTES)));
  });

  it('catches a Bob who alters u, verifyX or verifyT after the fact, naming him', () => {
    const flips: [keyof OteMessageBytes, number, number][] = [['u', 5 * COLUMN_BYTES + 3, 0x04], ['u', 0, 0x01], ['verifyX', 0, 0x01], ['verifyX', 25, 0x80], ['verifyT', 7 * 26 + 10, 0x10]];
    for (const [field, at, mask] of flips) {
      const m = clone(msg);
      m[field][at] ^= mask;
      assert.throws(() => oteSenderExtend(setup.delta, setup.seeds, sid, m, 'bob'), abortOf('dkls.ote_check', 'bob'), `${field}[${at}]`);
    }
  });

  it('catches a Bob who uses other choice bits in one column and guesses that column of Δ wrong', () => {
    // A self-consistent cheater: u_c carries x ⊕ e, and t̃_c is adjusted for a guess g of Δ_c.
    // KOS's check passes iff g = Δ_c, so one abort or success leaks one bit of Δ (see ote.ts).
    const cheat = (c: number, guess: number): OteMessageBytes => {
      const t0 = expandSeeds(setup.seeds0, sid), t1 = expandSeeds(setup.seeds1, sid);
      const u = new Uint8Array(KAPPA * COLUMN_BYTES);
      for (let i = 0; i < u.length; i++) u[i] = t0[i] ^ t1[i] ^ bits[i % COLUMN_BYTES];
      const e = new Uint8Array(COLUMN_BYTES);
      e[2] = 0x10; // the choice bit of row 20
      for (let i = 0; i < COLUMN_BYTES; i++) u[c * COLUMN_BYTES + i] ^= e[i];
      const chis = oteChallenge(sid, u);
      const verifyT = checkValues(chis, t0, KAPPA);
      if (guess) {
        const ce = checkValues(chis, e, 1);
        for (let i = 0; i < 26; i++) verifyT[c * 26 + i] ^= ce[i];
      }
      return { u, verifyX: checkValues(chis, bits, 1), verifyT };
    };
    const c0 = [...Array(KAPPA).keys()].find((c) => bit(setup.delta, c) === 0)!;
    const c1 = [...Array(KAPPA).keys()].find((c) => bit(setup.delta, c) === 1)!;
    assert.throws(() => oteSenderExtend(setup.delta, setup.seeds, sid, cheat(c1, 0), 'bob'), abortOf('dkls.ote_check', 'bob'));
    assert.throws(() => oteSenderExtend(setup.delta, setup.seeds, sid, cheat(c0, 1), 'bob'), abortOf('dkls.ote_check', 'bob'));
    // The right guesses pass: the reason an abort must retire the pair's base OTs.
    assert.doesNotThrow(() => oteSenderExtend(setup.delta, setup.seeds, sid, cheat(c1, 1), 'bob'));
    assert.doesNotThrow(() => oteSenderExtend(setup.delta, setup.seeds, sid, cheat(c0, 0), 'bob'));
  });

  it('fails the check when Alice and Bob disagree on the session id', () => {
    assert.throws(() => oteSenderExtend(setup.delta, setup.seeds, utf8('another-session'), msg, 'bob'), abortOf('dkls.ote_check', 'bob'));
  });

  it('encodes messages as hex and refuses malformed ones, naming the sender', () => {
    const hex = encodeOteMessage(msg);
    assert.deepEqual(decodeOteMessage(JSON.parse(JSON.stringify(hex)), 'bob'), msg);
    const bad: unknown[] = [
      null, 'x', 7, {},
      { ...hex, u: hex.u.slice(2) },
      { ...hex, u: hex.u + '00' },
      { ...hex, u: 'zz' + hex.u.slice(2) },
      { ...hex, verifyX: hex.verifyX.slice(1) },
      { ...hex, verifyX: 5 },
      { ...hex, verifyT: hex.verifyT.slice(0, -2) },
      { u: hex.u, verifyX: hex.verifyX },
    ];
    for (const m of bad) assert.throws(() => decodeOteMessage(m, 'bob'), abortOf('dkls.bad_message', 'bob'), JSON.stringify(m)?.slice(0, 40));
  });

  it('refuses bad local state without naming a peer', () => {
    assert.throws(() => expandSeeds(setup.seeds0.slice(1), sid), (e: unknown) => e instanceof Error && (e as { code?: string }).code === 'dkls.bad_state');
    assert.throws(() => oteReceiverExtend(setup.seeds0, setup.seeds1, sid, bits.subarray(1)), (e: unknown) => (e as { code?: string }).code === 'dkls.bad_state');
    assert.throws(() => oteSenderExtend(setup.delta.subarray(1), setup.seeds, sid, msg, 'bob'), (e: unknown) => (e as { code?: string }).code === 'dkls.bad_state');
  });
});
