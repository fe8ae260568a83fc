import { normalizeZ, pippenger } from '@noble/curves/abstract/curve.js';
import type { WeierstrassPoint } from '@noble/curves/abstract/weierstrass.js';
import { secp256k1, secp256k1_hasher } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, fromHex, toHex, u32be, wipe } from '../../common/bytes.ts';
import { ProtocolAbort, ValidationError } from '../../common/errors.ts';
import { getGroup } from '../../crypto/group.ts';
import { secureRng, type Rng } from '../../crypto/random.ts';
import { pokLength, proveKnowledge, verifyKnowledge, type PokContext } from '../../crypto/schnorr-pok.ts';
import { hashToScalar, transcriptHash } from '../../crypto/transcript.ts';

/**
 * Base OT of DKLs23 (ePrint 2023/765, p.30): the endemic OT of Zhou, Zhang, Zhou and Ren
 * ("Endemic Oblivious Transfer via Random Oracles, Revisited", ePrint 2022/1525, Section 3),
 * batched over n instances that share one sender key z and one receiver point h, one message
 * each way, sent simultaneously.
 *
 *   sender    s random, z = s·G, proof of knowledge of log_G z
 *   receiver  seed random, h = HashToCurve(sid ‖ seed); per instance k with choice b_k:
 *             u_k = r_k·h, v_k = r_k·G + b_k·h, OR-proof that (v_k, u_k) or (v_k − h, u_k) is
 *             (r·G, r·h) for one r
 *   outputs   sender m0_k = H(sid, k, s·v_k), m1_k = H(sid, k, s·(v_k − h));
 *             receiver m_{b_k} = H(sid, k, r_k·z)
 *
 * (u_k, v_k) is an ElGamal encryption of b_k·h under the key h, so its secrecy rests on nobody
 * knowing log_G(h): h comes from RFC 9380 hash-to-curve, never from scalar·G. (The 0xCarbon
 * DKLs23 code derives h = H(sid, seed)·G, whose logarithm is public, so its OT sender can
 * compute r_k·G = u_k / log_G(h) and read every choice bit.)
 *
 * Variant choices, made consciously:
 * - Both proofs are made non-interactive by Fiat–Shamir, not by the Fischlin transform of the
 *   paper: the sender's proof is schnorr-pok.ts; the receiver's is a Chaum–Pedersen OR-proof
 *   (Cramer–Damgård–Schoenmakers) with c0 + c1 = c mod the order in place of XOR.
 * - The OR-proof carries its four commitments, so the sender checks all 4n verification
 *   equations at once as one random linear combination (weights hashed from the whole message,
 *   128 bits each), and re-checks instance by instance only to name the bad one.
 *
 * The session id must be unique per key session and per ordered (sender, receiver) pair: it is
 * the only thing that binds the proofs to this run. Every hash binds the instance index k.
 */

/** Sender -> receiver. z: 33-byte compressed point; proof: schnorr-pok.ts encoding. */
export type BaseOtSenderMessage = { z: string; proof: string };

/** Receiver -> sender. seed: 32 bytes; pairs[k] = u ‖ v ‖ OR-proof of instance k (PAIR_BYTES). */
export type BaseOtReceiverMessage = { seed: string; pairs: string[] };

type Point = WeierstrassPoint<bigint>;

const group = getGroup('secp256k1');
const Fn = group.Fn;
const G = secp256k1.Point.BASE;
const PT = 33;
const SC = 32;
const SEED_BYTES = 32;
/** u, v, then the OR-proof: A0G, A0H, A1G, A1H (commitments per branch), c0, c1, z0, z1. */
const PAIR_BYTES = 6 * PT + 4 * SC;
const MAX_BATCH = 1 << 16;

const H_DST = 'custos-dkls23-base-ot-h-v1';
const SENDER_POK_PURPOSE = 'custos/dkls23/base-ot/sender-key/v1';
const CHOICE_CHALLENGE_TAG = 'custos/dkls23/base-ot/choice-proof/v1';
const BATCH_WEIGHTS_TAG = 'custos/dkls23/base-ot/choice-proof-batch/v1';
const OUTPUT_TAG = 'custos/dkls23/base-ot/output/v1';

/** Window of the fixed-base tables built for h and z. Measured on secp256k1 with noble 2.4:
 * W=6 matches or beats W=8 for batches of 128 (a W=8 table costs ~70 ms to build, W=6 ~25 ms,
 * and W=8 multiplies under 10% faster). A table pays off from about ten multiplications. */
const FIXED_BASE_WINDOW = 6;
const FIXED_BASE_MIN = 12;

const pokContext = (sid: Uint8Array): PokContext => ({ sessionId: toHex(sid), party: 'base-ot-sender', purpose: SENDER_POK_PURPOSE });

/** The receiver's second generator: RFC 9380 hash-to-curve (secp256k1_XMD:SHA-256_SSWU_RO_), so
 * its discrete logarithm is unknown to everyone. The seed has a fixed length, so sid ‖ seed is
 * an injective encoding. */
function receiverH(sid: Uint8Array, seed: Uint8Array): Point {
  return secp256k1_hasher.hashToCurve(concatBytes(sid, seed), { DST: H_DST });
}

function challenge(sid: Uint8Array, k: number, h: Uint8Array, pair: Uint8Array): bigint {
  // pair[0, 6·PT) = u, v, A0G, A0H, A1G, A1H: the statement and all four commitments.
  const at = (i: number) => pair.subarray(i * PT, (i + 1) * PT);
  return hashToScalar(group, CHOICE_CHALLENGE_TAG, [sid, k, h, at(0), at(1), at(2), at(3), at(4), at(5)]);
}

function outputKey(sid: Uint8Array, k: number, p: Point): Uint8Array {
  return transcriptHash(OUTPUT_TAG, [sid, k, p.toBytes(true)]);
}

/** Swaps a and b in place when mask is 0xff, leaves them when it is 0, without branching on it. */
function cswap(mask: number, a: Uint8Array, b: Uint8Array): void {
  for (let i = 0; i < a.length; i++) {
    const t = mask & (a[i] ^ b[i]);
    a[i] ^= t;
    b[i] ^= t;
  }
}

function choiceBit(choices: Uint8Array, k: number): number {
  return (choices[k >> 3] >> (k & 7)) & 1;
}

/** A fixed-base table costs about as much as ten multiplications; build it only when it pays. */
function asFixedBase(p: Point, uses: number): Point {
  return uses >= FIXED_BASE_MIN ? p.precompute(FIXED_BASE_WINDOW) : p;
}

function checkArgs(sid: Uint8Array, n: number): void {
  if (!(sid instanceof Uint8Array) || sid.length === 0) throw new ValidationError('base OT session id must be non-empty bytes', { code: 'dkls.bad_parameter' });
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_BATCH) throw new ValidationError(`base OT batch size must be an integer in [1, ${MAX_BATCH}]`, { code: 'dkls.bad_parameter' });
}

function checkChoices(choices: Uint8Array, n: number): void {
  if (!(choices instanceof Uint8Array) || choices.length !== Math.ceil(n / 8)) {
    throw new ValidationError(`base OT choices must be ${Math.ceil(n / 8)} bytes for ${n} instances`, { code: 'dkls.bad_parameter' });
  }
}

function secretScalar(bytes: Uint8Array, what: string): bigint {
  let s: bigint;
  try {
    s = group.decodeScalar(bytes, what);
  } catch {
    s = 0n;
  }
  if (s === 0n) throw new ValidationError(`${what} is not a valid secret scalar`, { code: 'dkls.bad_parameter' });
  return s;
}

/** Decoding of peer input: anything malformed is the peer's fault, named as such. */
function malformed(culprit: string, what: string): ProtocolAbort {
  return new ProtocolAbort('dkls.bad_message', culprit, `${culprit}'s base OT message is malformed: ${what}`, { field: what });
}

function peerHex(culprit: string, value: unknown, what: string, length: number): Uint8Array {
  try {
    return fromHex(value as string, what, length);
  } catch {
    throw malformed(culprit, what);
  }
}

function peerPoint(culprit: string, bytes: Uint8Array, what: string): Point {
  try {
    // group.decodePoint returns the noble point itself: canonical, on the curve, not the identity.
    return group.decodePoint(bytes, what) as unknown as Point;
  } catch {
    throw malformed(culprit, what);
  }
}

function peerScalar(culprit: string, bytes: Uint8Array, what: string): bigint {
  try {
    return group.decodeScalar(bytes, what);
  } catch {
    throw malformed(culprit, what);
  }
}

/**
 * Sender, round 1: samples s and publishes z = s·G with a proof of knowledge of s bound to sid.
 * `secret` (s, 32 bytes) is SECRET and is needed once, by baseOtSenderFinish.
 */
export function baseOtSenderStart(sid: Uint8Array, rng: Rng = secureRng): { secret: Uint8Array; message: BaseOtSenderMessage } {
  checkArgs(sid, 1);
  const s = group.randomScalar(rng);
  const z = G.multiply(s);
  const proof = proveKnowledge(group, s, pokContext(sid), rng);
  return { secret: group.encodeScalar(s), message: { z: toHex(z.toBytes(true)), proof: toHex(proof) } };
}

/**
 * Receiver, round 1: for n choice bits (bit k = (choices[k>>3] >> (k&7)) & 1), publishes the seed
 * of h and per instance (u_k, v_k) with the OR-proof. `secrets` (r_k, 32 bytes each) is SECRET.
 *
 * The choice bit never selects an operation: every instance computes both candidate values of v
 * and of the simulated commitment from scalars that do not depend on b, and b only enters
 * through masked byte swaps (bigint arithmetic itself is not constant-time in JS).
 */
export function baseOtReceiverStart(sid: Uint8Array, choices: Uint8Array, n: number, rng: Rng = secureRng): { secrets: Uint8Array; message: BaseOtReceiverMessage } {
  checkArgs(sid, n);
  checkChoices(choices, n);
  const seed = rng(SEED_BYTES);
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) throw new Error('rng returned the wrong number of bytes');
  const h = asFixedBase(receiverH(sid, seed), 4 * n);
  const hBytes = h.toBytes(true);
  const secrets = new Uint8Array(n * SC);

  // Per instance: r (the witness), k (nonce of the real branch), w and cs (response and challenge
  // of the simulated branch, reparametrised: its response is w + cs·r). With V_b = r·G the real
  // branch commits (k·G, k·h); the simulated one, whose V is r·G + (2b − 1)·h, commits
  // (w·G + (1 − 2b)·cs·h, w·h), which then verifies against challenge cs and response w + cs·r.
  type Work = { r: bigint; k: bigint; w: bigint; cs: bigint; u: Point; kG: Point; kH: Point; wH: Point };
  const work: Work[] = [];
  const sums: Point[] = [];
  for (let i = 0; i < n; i++) {
    const r = group.randomScalar(rng);
    const k = group.randomScalar(rng);
    const w = group.randomScalar(rng);
    const cs = group.randomScalar(rng);
    const rG = G.multiply(r);
    const wG = G.multiply(w);
    const csH = h.multiply(cs);
    work.push({ r, k, w, cs, u: h.multiply(r), kG: G.multiply(k), kH: h.multiply(k), wH: h.multiply(w) });
    // v for b = 0 and b = 1; the simulated G-commitment for b = 0 and b = 1.
    sums.push(rG, rG.add(h), wG.add(csH), wG.subtract(csH));
    secrets.set(group.encodeScalar(r), i * SC);
  }
  const affine = normalizeZ(secp256k1.Point, sums);

  const pairs: string[] = [];
  for (let i = 0; i < n; i++) {
    const { r, k, w, cs, u, kG, kH, wH } = work[i];
    const mask = -choiceBit(choices, i) & 0xff;
    const [v, vOther, simG, simOther] = affine.slice(4 * i, 4 * i + 4).map((p) => p.toBytes(true));
    cswap(mask, v, vOther);
    cswap(mask, simG, simOther);
    // Branch 0 is real when b = 0, branch 1 when b = 1.
    const a0G = kG.toBytes(true), a0H = kH.toBytes(true), a1G = simG, a1H = wH.toBytes(true);
    cswap(mask, a0G, a1G);
    cswap(mask, a0H, a1H);
    const pair = new Uint8Array(PAIR_BYTES);
    [u.toBytes(true), v, a0G, a0H, a1G, a1H].forEach((p, j) => pair.set(p, j * PT));
    const c = challenge(sid, i, hBytes, pair);
    const cReal = Fn.sub(c, cs);
    const c0 = group.encodeScalar(cReal), c1 = group.encodeScalar(cs);
    const z0 = group.encodeScalar(Fn.add(k, Fn.mul(cReal, r))), z1 = group.encodeScalar(Fn.add(w, Fn.mul(cs, r)));
    cswap(mask, c0, c1);
    cswap(mask, z0, z1);
    [c0, c1, z0, z1].forEach((s, j) => pair.set(s, 6 * PT + j * SC));
    pairs.push(toHex(pair));
    wipe(vOther, simOther); // each reveals b next to its public twin
  }
  return { secrets, message: { seed: toHex(seed), pairs } };
}

type Instance = { u: Point; v: Point; a: Point[]; c: bigint[]; z: bigint[] };

/** Instance k's four verification equations, one by one (used only to name a failing k). */
function instanceVerifies(h: Point, x: Instance): boolean {
  const V = [x.v, x.v.subtract(h)];
  for (let j = 0; j < 2; j++) {
    if (!G.multiplyUnsafe(x.z[j]).equals(x.a[2 * j].add(V[j].multiplyUnsafe(x.c[j])))) return false;
    if (!h.multiplyUnsafe(x.z[j]).equals(x.a[2 * j + 1].add(x.u.multiplyUnsafe(x.c[j])))) return false;
  }
  return true;
}

/**
 * All 4n equations z_j·G = A_jG + c_j·V_j and z_j·h = A_jH + c_j·u (V_0 = v, V_1 = v − h) at once:
 * weighted by 128-bit weights hashed from the whole message (a false equation survives with
 * probability 2^-128 per attempt), gathered into one multi-scalar multiplication.
 */
function batchVerifies(sid: Uint8Array, seed: Uint8Array, h: Point, raw: Uint8Array[], xs: Instance[]): boolean {
  const root = transcriptHash(BATCH_WEIGHTS_TAG, [sid, seed, xs.length, ...raw]);
  let gCoef = 0n;
  let hCoef = 0n;
  const points: Point[] = [];
  const scalars: bigint[] = [];
  xs.forEach((x, k) => {
    const wide = sha512(concatBytes(root, u32be(k)));
    // alpha_j weighs the G-equation of branch j, beta_j its h-equation.
    const [al0, al1, be0, be1] = [0, 1, 2, 3].map((i) => bytesToNumberBE(wide.subarray(16 * i, 16 * i + 16)));
    const [c0, c1] = x.c;
    const [z0, z1] = x.z;
    gCoef = Fn.add(gCoef, Fn.add(Fn.mul(al0, z0), Fn.mul(al1, z1)));
    // c1·V_1 = c1·v − c1·h: its h part moves to the left-hand side.
    hCoef = Fn.add(hCoef, Fn.add(Fn.add(Fn.mul(be0, z0), Fn.mul(be1, z1)), Fn.mul(al1, c1)));
    points.push(x.a[0], x.a[1], x.a[2], x.a[3], x.v, x.u);
    scalars.push(al0, be0, al1, be1, Fn.add(Fn.mul(al0, c0), Fn.mul(al1, c1)), Fn.add(Fn.mul(be0, c0), Fn.mul(be1, c1)));
  });
  const left = G.multiplyUnsafe(gCoef).add(h.multiplyUnsafe(hCoef));
  return left.equals(pippenger(secp256k1.Point, points, scalars));
}

/**
 * Sender, round 2: checks the receiver's h and every OR-proof, then returns both messages of
 * every instance. Any bad proof aborts the whole batch naming `culprit` (the receiver).
 */
export function baseOtSenderFinish(sid: Uint8Array, secret: Uint8Array, msg: BaseOtReceiverMessage, n: number, culprit: string): { m0: Uint8Array[]; m1: Uint8Array[] } {
  checkArgs(sid, n);
  const s = secretScalar(secret, 'base OT sender secret');
  if (typeof msg !== 'object' || msg === null) throw malformed(culprit, 'message');
  const seed = peerHex(culprit, msg.seed, 'seed', SEED_BYTES);
  if (!Array.isArray(msg.pairs) || msg.pairs.length !== n) throw malformed(culprit, `pairs (expected ${n})`);
  const raw = msg.pairs.map((p, k) => peerHex(culprit, p, `pairs[${k}]`, PAIR_BYTES));
  const xs: Instance[] = raw.map((b, k) => {
    const pt = (i: number, name: string) => peerPoint(culprit, b.subarray(i * PT, (i + 1) * PT), `pairs[${k}].${name}`);
    const sc = (i: number, name: string) => peerScalar(culprit, b.subarray(6 * PT + i * SC, 6 * PT + (i + 1) * SC), `pairs[${k}].${name}`);
    return {
      u: pt(0, 'u'), v: pt(1, 'v'),
      a: [pt(2, 'a0g'), pt(3, 'a0h'), pt(4, 'a1g'), pt(5, 'a1h')],
      c: [sc(0, 'c0'), sc(1, 'c1')],
      z: [sc(2, 'z0'), sc(3, 'z1')],
    };
  });

  const h = receiverH(sid, seed);
  const hBytes = h.toBytes(true);
  const bad = (k: number) => new ProtocolAbort('dkls.base_ot_proof', culprit, `${culprit}'s base OT choice proof ${k} does not verify`, { instance: k });
  xs.forEach((x, k) => {
    // v = h would make v − h the identity: no honest receiver sends it (it needs r = 0).
    if (Fn.add(x.c[0], x.c[1]) !== challenge(sid, k, hBytes, raw[k]) || x.v.equals(h)) throw bad(k);
  });
  if (!batchVerifies(sid, seed, h, raw, xs)) {
    const k = xs.findIndex((x) => !instanceVerifies(h, x));
    throw bad(k < 0 ? 0 : k);
  }

  const sV = xs.map((x) => x.v.multiply(s));
  const sH = h.multiply(s);
  const sVminusH = normalizeZ(secp256k1.Point, sV.map((p) => p.subtract(sH)));
  return {
    m0: sV.map((p, k) => outputKey(sid, k, p)),
    m1: sVminusH.map((p, k) => outputKey(sid, k, p)),
  };
}

/**
 * Receiver, round 2: checks the sender's proof of knowledge of log_G z, then returns m_{b_k} for
 * every instance. `choices` must be those given to baseOtReceiverStart; the output does not
 * depend on them (r_k·z = s·(v_k − b_k·h) either way), they are checked for shape only.
 */
export function baseOtReceiverFinish(sid: Uint8Array, choices: Uint8Array, secrets: Uint8Array, msg: BaseOtSenderMessage, n: number, culprit: string): Uint8Array[] {
  checkArgs(sid, n);
  checkChoices(choices, n);
  if (!(secrets instanceof Uint8Array) || secrets.length !== n * SC) throw new ValidationError(`base OT receiver secrets must be ${n * SC} bytes`, { code: 'dkls.bad_parameter' });
  if (typeof msg !== 'object' || msg === null) throw malformed(culprit, 'message');
  const zBytes = peerHex(culprit, msg.z, 'z', PT);
  const proof = peerHex(culprit, msg.proof, 'proof', pokLength(group));
  const z = peerPoint(culprit, zBytes, 'z');
  if (!verifyKnowledge(group, z, proof, pokContext(sid))) {
    throw new ProtocolAbort('dkls.base_ot_proof', culprit, `${culprit}'s base OT sender proof of knowledge does not verify`);
  }
  const zt = asFixedBase(z, n);
  const out: Uint8Array[] = [];
  for (let k = 0; k < n; k++) {
    out.push(outputKey(sid, k, zt.multiply(secretScalar(secrets.subarray(k * SC, (k + 1) * SC), `base OT receiver secret ${k}`))));
  }
  return out;
}
