import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secp256k1, secp256k1_hasher } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { concatBytes, equalBytes, fromHex, toHex, utf8 } from '../../../src/common/bytes.ts';
import { CustosError, ProtocolAbort, ValidationError } from '../../../src/common/errors.ts';
import { getGroup } from '../../../src/crypto/group.ts';
import { hashToScalar } from '../../../src/crypto/transcript.ts';
import {
  baseOtReceiverFinish, baseOtReceiverStart, baseOtSenderFinish, baseOtSenderStart,
  type BaseOtReceiverMessage, type BaseOtSenderMessage,
} from '../../../src/protocols/dkls23/base-ot.ts';
import { seededRng } from '../../crypto/rng.ts';

// Alice is the OT receiver, Bob the OT sender (as in setup.ts). Each finish names the peer.
const P = secp256k1.Point;
const G = P.BASE;
const Fn = P.Fn;
const sid = utf8('base-ot-test-session');
const bit = (choices: Uint8Array, k: number) => (choices[k >> 3] >> (k & 7)) & 1;

// Layout of one pair: u, v, A0G, A0H, A1G, A1H (33 bytes each), c0, c1, z0, z1 (32 bytes each).
const POINT_FIELDS = ['u', 'v', 'a0g', 'a0h', 'a1g', 'a1h'] as const;
const SCALAR_FIELDS = ['c0', 'c1', 'z0', 'z1'] as const;
const pointAt = (i: number) => [33 * i, 33 * (i + 1)] as const;
const scalarAt = (i: number) => [198 + 32 * i, 198 + 32 * (i + 1)] as const;

function run(n: number, label: string, choices?: Uint8Array) {
  const rng = seededRng(`base-ot/${label}`);
  const c = choices ?? rng(Math.ceil(n / 8));
  const bob = baseOtSenderStart(sid, rng);
  const alice = baseOtReceiverStart(sid, c, n, rng);
  return { n, choices: c, bob, alice };
}

function throwsCustos(fn: () => unknown, type: new (...a: never[]) => CustosError, code: string, culprit?: string): CustosError {
  let caught: unknown;
  try { fn(); } catch (e) { caught = e; }
  assert.ok(caught instanceof type, `expected ${type.name} ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (culprit !== undefined) assert.equal(caught.culprit, culprit);
  return caught;
}

/** Bob finishing on `msg` must abort naming Alice; returns the error. */
const bobRejects = (s: ReturnType<typeof run>, msg: BaseOtReceiverMessage, code: string, sessionId = sid) =>
  throwsCustos(() => baseOtSenderFinish(sessionId, s.bob.secret, msg, s.n, 'alice'), ProtocolAbort, code, 'alice');
/** Alice finishing on `msg` must abort naming Bob. */
const aliceRejects = (s: ReturnType<typeof run>, msg: BaseOtSenderMessage, code: string, sessionId = sid) =>
  throwsCustos(() => baseOtReceiverFinish(sessionId, s.choices, s.alice.secrets, msg, s.n, 'bob'), ProtocolAbort, code, 'bob');

/** The receiver's message with pair k rewritten by `edit`. */
function editPair(msg: BaseOtReceiverMessage, k: number, edit: (b: Uint8Array) => void): BaseOtReceiverMessage {
  const b = fromHex(msg.pairs[k]);
  edit(b);
  return { ...msg, pairs: msg.pairs.map((p, i) => (i === k ? toHex(b) : p)) };
}
const plusG = (b: Uint8Array, [s, e]: readonly [number, number]) => b.set(P.fromBytes(b.slice(s, e)).add(G).toBytes(true), s);
const plusOne = (b: Uint8Array, [s, e]: readonly [number, number]) => b.set(Fn.toBytes(Fn.add(Fn.fromBytes(b.slice(s, e)), 1n)), s);

describe('DKLs23 base OT (endemic OT, ZZZR ePrint 2022/1525 §3)', () => {
  it('delivers m_b to the receiver and keeps m_(1-b) from it, for batch sizes 1 to 128', () => {
    for (const n of [1, 5, 8, 13, 128]) {
      const s = run(n, `correct/${n}`);
      const { m0, m1 } = baseOtSenderFinish(sid, s.bob.secret, s.alice.message, n, 'alice');
      const mb = baseOtReceiverFinish(sid, s.choices, s.alice.secrets, s.bob.message, n, 'bob');
      assert.equal(m0.length, n);
      assert.equal(m1.length, n);
      assert.equal(mb.length, n);
      for (let k = 0; k < n; k++) {
        const [mine, other] = bit(s.choices, k) ? [m1[k], m0[k]] : [m0[k], m1[k]];
        assert.equal(mine.length, 32);
        assert.ok(equalBytes(mb[k], mine), `instance ${k}`);
        assert.ok(!equalBytes(mb[k], other), `instance ${k}`);
      }
      // Distinct across instances (k is hashed in) and between the two messages.
      assert.equal(new Set([...m0, ...m1].map(toHex)).size, 2 * n);
    }
  });

  it('works for all-zero and all-one choices', () => {
    for (const fill of [0x00, 0xff]) {
      const s = run(16, `fill/${fill}`, new Uint8Array(2).fill(fill));
      const { m0, m1 } = baseOtSenderFinish(sid, s.bob.secret, s.alice.message, 16, 'alice');
      const mb = baseOtReceiverFinish(sid, s.choices, s.alice.secrets, s.bob.message, 16, 'bob');
      assert.deepEqual(mb, fill ? m1 : m0);
    }
  });

  it('is deterministic under an injected seeded rng, and fresh under another', () => {
    const a = run(8, 'det'), b = run(8, 'det'), c = run(8, 'det-other');
    assert.deepEqual(a.alice, b.alice);
    assert.deepEqual(a.bob, b.bob);
    assert.deepEqual(baseOtSenderFinish(sid, a.bob.secret, a.alice.message, 8, 'alice'), baseOtSenderFinish(sid, b.bob.secret, b.alice.message, 8, 'alice'));
    assert.notEqual(a.alice.message.seed, c.alice.message.seed);
    assert.notEqual(a.bob.message.z, c.bob.message.z);
  });

  it('messages are JSON-able lowercase hex and carry no secret', () => {
    const s = run(4, 'shape');
    assert.deepEqual(JSON.parse(JSON.stringify(s.alice.message)), s.alice.message);
    for (const h of [s.bob.message.z, s.bob.message.proof, s.alice.message.seed, ...s.alice.message.pairs]) assert.match(h, /^(?:[0-9a-f]{2})+$/);
    assert.equal(fromHex(s.bob.message.z).length, 33);
    assert.equal(fromHex(s.alice.message.seed).length, 32);
    assert.equal(s.alice.secrets.length, 4 * 32);
    const wire = JSON.stringify([s.alice.message, s.bob.message]);
    assert.ok(!wire.includes(toHex(s.bob.secret)));
    for (let k = 0; k < 4; k++) assert.ok(!wire.includes(toHex(s.alice.secrets.subarray(32 * k, 32 * k + 32))));
  });

  it('h comes from RFC 9380 hash-to-curve, not from a scalar times G', () => {
    const s = run(4, 'h');
    const seed = fromHex(s.alice.message.seed);
    const h = secp256k1_hasher.hashToCurve(concatBytes(sid, seed), { DST: 'custos-dkls23-base-ot-h-v1' });
    for (let k = 0; k < 4; k++) {
      const pair = fromHex(s.alice.message.pairs[k]);
      const r = Fn.fromBytes(s.alice.secrets.subarray(32 * k, 32 * k + 32));
      const u = P.fromBytes(pair.slice(...pointAt(0)));
      const v = P.fromBytes(pair.slice(...pointAt(1)));
      assert.ok(u.equals(h.multiply(r)));
      assert.ok(v.equals(bit(s.choices, k) ? G.multiply(r).add(h) : G.multiply(r)));
    }
    // The scalar derivations of h that would make log_G(h) public (the 0xCarbon bug) are not it,
    // and the attack they enable, v − u/t ∈ {O, h}, reads nothing.
    const group = getGroup('secp256k1');
    const candidates = [
      bytesToNumberBE(sha256(concatBytes(sid, seed))) % Fn.ORDER,
      hashToScalar(group, 'custos-dkls23-base-ot-h-v1', [sid, seed]),
      secp256k1_hasher.hashToScalar(concatBytes(sid, seed), { DST: 'custos-dkls23-base-ot-h-v1' }),
    ];
    for (const t of candidates) {
      assert.ok(!G.multiply(t).equals(h));
      const pair = fromHex(s.alice.message.pairs[0]);
      const guess = P.fromBytes(pair.slice(...pointAt(1))).subtract(P.fromBytes(pair.slice(...pointAt(0))).multiply(Fn.inv(t)));
      assert.ok(!guess.is0() && !guess.equals(h));
    }
  });

  describe('a cheating receiver (Alice) is caught and named by the sender', () => {
    const s = run(8, 'receiver-tamper');
    const msg = s.alice.message;

    it('an honest message is accepted (control)', () => {
      assert.doesNotThrow(() => baseOtSenderFinish(sid, s.bob.secret, msg, 8, 'alice'));
    });

    for (const [i, name] of POINT_FIELDS.entries()) {
      it(`a changed ${name} in pair 5 fails proof 5`, () => {
        const e = bobRejects(s, editPair(msg, 5, (b) => plusG(b, pointAt(i))), 'dkls.base_ot_proof');
        assert.match(e.message, /alice's base OT choice proof 5 does not verify/);
        assert.equal(e.detail?.instance, 5);
      });
    }
    for (const [i, name] of SCALAR_FIELDS.entries()) {
      it(`a changed ${name} in pair 6 fails proof 6`, () => {
        const e = bobRejects(s, editPair(msg, 6, (b) => plusOne(b, scalarAt(i))), 'dkls.base_ot_proof');
        assert.equal(e.detail?.instance, 6);
      });
    }

    it('a changed seed (hence h) fails the proofs', () => {
      const seed = fromHex(msg.seed);
      seed[0] ^= 1;
      const e = bobRejects(s, { ...msg, seed: toHex(seed) }, 'dkls.base_ot_proof');
      assert.equal(e.detail?.instance, 0);
    });

    it('a proof replayed at another index fails (k is bound)', () => {
      const e = bobRejects(s, { ...msg, pairs: msg.pairs.map((p, i) => (i === 3 ? msg.pairs[2] : p)) }, 'dkls.base_ot_proof');
      assert.equal(e.detail?.instance, 3);
      bobRejects(s, { ...msg, pairs: [msg.pairs[1], msg.pairs[0], ...msg.pairs.slice(2)] }, 'dkls.base_ot_proof');
    });

    it('a message replayed into another session fails (sid is bound)', () => {
      bobRejects(s, msg, 'dkls.base_ot_proof', utf8('base-ot-test-session-2'));
    });

    it('a pair from another batch with the same sid fails (h is bound)', () => {
      const other = run(8, 'receiver-tamper-other').alice.message;
      const e = bobRejects(s, { ...msg, pairs: msg.pairs.map((p, i) => (i === 4 ? other.pairs[4] : p)) }, 'dkls.base_ot_proof');
      assert.equal(e.detail?.instance, 4);
    });

    it('a receiver who sends v = h (v − h the identity) is refused', () => {
      bobRejects(s, editPair(msg, 1, (b) => b.set(secp256k1_hasher.hashToCurve(concatBytes(sid, fromHex(msg.seed)), { DST: 'custos-dkls23-base-ot-h-v1' }).toBytes(true), 33)), 'dkls.base_ot_proof');
    });

    it('a receiver cannot claim both choices: (v, u) with v = r·G + 2h has no proof either way', () => {
      // Re-encrypt instance 0 as b = 2 (neither 0 nor 1) and keep the proof: it is refused.
      const h = secp256k1_hasher.hashToCurve(concatBytes(sid, fromHex(msg.seed)), { DST: 'custos-dkls23-base-ot-h-v1' });
      const r = Fn.fromBytes(s.alice.secrets.subarray(0, 32));
      bobRejects(s, editPair(msg, 0, (b) => b.set(G.multiply(r).add(h.double()).toBytes(true), 33)), 'dkls.base_ot_proof');
    });

    const malformed: [string, () => unknown][] = [
      ['a missing message', () => undefined],
      ['a null message', () => null],
      ['one pair too few', () => ({ ...msg, pairs: msg.pairs.slice(1) })],
      ['one pair too many', () => ({ ...msg, pairs: [...msg.pairs, msg.pairs[0]] })],
      ['pairs not an array', () => ({ ...msg, pairs: msg.pairs.join('') })],
      ['a short seed', () => ({ ...msg, seed: msg.seed.slice(2) })],
      ['a non-hex seed', () => ({ ...msg, seed: 'zz' + msg.seed.slice(2) })],
      ['a numeric pair', () => ({ ...msg, pairs: [7, ...msg.pairs.slice(1)] })],
      ['a truncated pair', () => ({ ...msg, pairs: [msg.pairs[0].slice(2), ...msg.pairs.slice(1)] })],
      ['an uppercase-hex pair of the wrong length', () => ({ ...msg, pairs: [msg.pairs[0].toUpperCase() + 'AB', ...msg.pairs.slice(1)] })],
      ['u not on the curve', () => editPair(msg, 2, (b) => { b[0] = 0x02; b.fill(0xff, 1, 33); })],
      ['v with a bad prefix', () => editPair(msg, 2, (b) => { b[33] = 0x05; })],
      ['a commitment that is all zero (no identity encoding)', () => editPair(msg, 2, (b) => b.fill(0, 66, 99))],
      ['a scalar at least the group order', () => editPair(msg, 2, (b) => b.fill(0xff, 262, 294))],
    ];
    for (const [what, make] of malformed) {
      it(`${what} is a malformed message from alice`, () => {
        bobRejects(s, make() as BaseOtReceiverMessage, 'dkls.bad_message');
      });
    }
  });

  describe('a cheating sender (Bob) is caught and named by the receiver', () => {
    const s = run(8, 'sender-tamper');
    const msg = s.bob.message;

    it('an honest message is accepted (control)', () => {
      assert.doesNotThrow(() => baseOtReceiverFinish(sid, s.choices, s.alice.secrets, msg, 8, 'bob'));
    });

    it('a changed z fails the proof of knowledge', () => {
      const e = aliceRejects(s, { ...msg, z: toHex(P.fromBytes(fromHex(msg.z)).add(G).toBytes(true)) }, 'dkls.base_ot_proof');
      assert.match(e.message, /^bob's base OT sender proof/);
    });

    it('a z without a proof of its logarithm (another sender\'s proof) fails', () => {
      aliceRejects(s, { ...msg, proof: run(8, 'sender-tamper-other').bob.message.proof }, 'dkls.base_ot_proof');
    });

    for (const at of [0, 32, 64]) {
      it(`a proof with byte ${at} flipped fails`, () => {
        const p = fromHex(msg.proof);
        p[at] ^= 1;
        aliceRejects(s, { ...msg, proof: toHex(p) }, 'dkls.base_ot_proof');
      });
    }

    it('a proof replayed into another session fails (sid is bound)', () => {
      aliceRejects(s, msg, 'dkls.base_ot_proof', utf8('base-ot-test-session-2'));
    });

    const malformed: [string, () => unknown][] = [
      ['a missing message', () => undefined],
      ['a short z', () => ({ ...msg, z: msg.z.slice(2) })],
      ['an uncompressed z', () => ({ ...msg, z: toHex(P.fromBytes(fromHex(msg.z)).toBytes(false)) })],
      ['z not on the curve', () => ({ ...msg, z: '02' + 'ff'.repeat(32) })],
      ['a non-hex proof', () => ({ ...msg, proof: 'x' + msg.proof.slice(1) })],
      ['a truncated proof', () => ({ ...msg, proof: msg.proof.slice(2) })],
    ];
    for (const [what, make] of malformed) {
      it(`${what} is a malformed message from bob`, () => {
        aliceRejects(s, make() as BaseOtSenderMessage, 'dkls.bad_message');
      });
    }
  });

  it('refuses local misuse with ValidationError, not a protocol abort', () => {
    const s = run(8, 'misuse');
    const bad = (fn: () => unknown) => throwsCustos(fn, ValidationError, 'dkls.bad_parameter');
    bad(() => baseOtReceiverStart(sid, new Uint8Array(2), 8));
    bad(() => baseOtReceiverStart(sid, new Uint8Array(1), 0));
    bad(() => baseOtReceiverStart(sid, new Uint8Array(1), 1.5));
    bad(() => baseOtSenderStart(new Uint8Array(0)));
    bad(() => baseOtSenderFinish(sid, new Uint8Array(32), s.alice.message, 8, 'alice'));
    bad(() => baseOtSenderFinish(sid, s.bob.secret.subarray(1), s.alice.message, 8, 'alice'));
    bad(() => baseOtReceiverFinish(sid, s.choices, s.alice.secrets.subarray(32), s.bob.message, 8, 'bob'));
    bad(() => baseOtReceiverFinish(sid, s.choices.subarray(1), s.alice.secrets, s.bob.message, 8, 'bob'));
  });
});
