import { hash } from 'node:crypto';
import { equalBytes, fromHex, toHex, wipe } from '../../common/bytes.ts';
import { CustosError, ProtocolAbort } from '../../common/errors.ts';
import { getGroup } from '../../crypto/group.ts';
import { secureRng, type Rng } from '../../crypto/random.ts';
import { hashToScalar, transcriptBytes, transcriptHash } from '../../crypto/transcript.ts';
import {
  COLUMN_BYTES, KAPPA, ROW_BYTES, XI, decodeOteMessage, encodeOteMessage, oteReceiverExtend, oteReceiverOutputs, oteSenderOutputs,
  type OteMessage, type OteMessageBytes,
} from './ote.ts';

export type { OteMessage } from './ote.ts';

/**
 * Two-party random vector OLE, DKLs23 Functionality 3.5 (ePrint 2023/765), realised by DKLs19
 * Protocol 1 (ePrint 2019/523) with γ_B = 0 and l = 1 per input, in two rounds as DKLs23 §5.1 and
 * p. 8 describe, with "forced reuse": Alice's L inputs share one batch of Bob's OTs, each OT
 * carrying OT_WIDTH = 2L correlations (ã_1..ã_L, â_1..â_L). The OTs are the KOS15 extension of
 * ote.ts completed by DKLs18 Protocol 9's transfer step (τ = v1 − v0 + correlation).
 *
 * Bob (receiver) draws random choice bits x; his input is chi = Σ_k g_k x_k over the public gadget
 * vector g. Alice (sender) inputs a_1..a_L. Outputs: Alice c_l, Bob d_l with c_l + d_l = a_l·chi.
 *
 *   Bob   → Alice  OteMessage  (voleReceiverRound1)
 *   Alice → Bob    MulMessage  (voleSenderRound2: checks the OT extension, outputs c)
 *   Bob            checks Alice's r/u values and outputs d (voleReceiverFinish)
 *
 * The check catches an Alice whose OT payloads are inconsistent with one ã_l, â_l pair; it does
 * not (by design) bind gamma = a − ã to anything, so a wrong gamma shifts Bob's output additively.
 * DKLs23 Protocol 3.6 catches that with its Γ consistency checks at the presignature level.
 *
 * The challenges χ̃_l, χ̂_l are derived by Fiat–Shamir from the session id, Bob's whole message AND
 * Alice's τ, i.e. only after Alice has fixed her OT payloads, as DKLs19 Protocol 1 orders it (Bob
 * picks χ after the OTs) and as DKLs23 Protocol 5.2 derives its θ (from Alice's ã values). Were χ
 * known before τ (derived from Bob's message alone), Alice could use different correlations
 * (α_k, β_k) on every row, all on the line χ̃·α + χ̂·β = u, and pass the check while adding an
 * error Σ_k g_k x_k (α_k − ã) that depends on Bob's individual choice bits.
 */

/** L: Alice's inputs per multiplication (DKLs23 Protocol 3.6 multiplies chi by r and sk). */
export const L = 2;
/** Correlations per OT: (ã_1, ..., ã_L, â_1, ..., â_L). */
export const OT_WIDTH = 2 * L;

/** Alice of the ordered pair: she was the base-OT receiver with choice bits Δ. */
export type VoleSenderSetup = { delta: Uint8Array; seeds: Uint8Array[] };
/** Bob of the ordered pair: he was the base-OT sender. */
export type VoleReceiverSetup = { seeds0: Uint8Array[]; seeds1: Uint8Array[] };
/** SECRET: what Bob keeps between his two steps. `bits` are his EXTENDED choice bits (the OT
 * extension matrix itself is recomputed from the seeds and the session id); `transcript` is the
 * 32-byte digest of the OT-extension message he sent, which the challenges are bound to. */
export type VoleReceiverKeep = { bits: string; transcript: string; nonce: string };
/** Alice's message: τ (OT_WIDTH x XI scalars, width-major, 32 bytes each), the hash of her r
 * values, her u values and the input adjustments gamma (L scalars each). */
export type MulMessage = { tau: string; verifyR: string; verifyU: string[]; gamma: string[]; nonce: string };
/** Bob's message: the OT extension plus his fresh session nonce. */
export type VoleOteMessage = OteMessage & { nonce: string };

/**
 * Fresh session ids. The caller's sid is fixed by (key, presignature, quorum, pair), and the
 * base-OT seeds are fixed per pair, so two runs under one sid (a replayed presignature id, a
 * node restored from a backup) would expand the same PRG columns and hash the same rows: XORing
 * the two runs' messages then reveals Bob's flipped choice bits and, through τ and γ, Alice's
 * input. Bob's PRG is therefore keyed by a nonce of his own, and Alice's row hashes (her OT
 * outputs, the challenges and r) by a nonce of hers, so neither party's outputs repeat unless it
 * repeats its own randomness.
 */
export function freshSid(sid: Uint8Array, who: 'bob' | 'alice', nonce: Uint8Array): Uint8Array {
  return transcriptHash('custos/dkls23/vole-fresh-sid/v1', [sid, who, nonce]);
}

function nonceOf(v: unknown, culprit: string, what: string): Uint8Array {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) throw new ProtocolAbort('dkls.bad_message', culprit, `${culprit}'s ${what} message: nonce is malformed`, { field: 'nonce' });
  return fromHex(v, 'nonce', 32);
}

const G = getGroup('secp256k1');
const N = G.order;
const SCALAR_HEX = 64;
const GADGET_TAG = 'custos/dkls23/gadget-vector/v1';
const OTE_TRANSCRIPT_TAG = 'custos/dkls23/mul-ote-transcript/v1';
const MUL_CHALLENGE_TAG = 'custos/dkls23/mul-challenge/v1';
const MUL_CHI_TAG = 'custos/dkls23/mul-chi/v1';
const VERIFY_R_TAG = 'custos/dkls23/mul-verify-r/v1';
const HEX_RE = /^[0-9a-fA-F]*$/;

const badState = (message: string) => new CustosError('dkls.bad_state', `multiplication: ${message}`, { status: 500 });

/**
 * The public gadget vector: XI scalars g_k = hashToScalar(GADGET_TAG, context, k) (SHA-512 of the
 * transcript mod n, as crypto/transcript.ts, with node:crypto for speed). With all XI entries
 * random (as in DKLs19's implementation), chi = Σ g_k x_k is statistically close to uniform for
 * uniform x, and a few leaked bits of x (selective failure) leave chi hidden.
 */
export function gadgetVector(context: Uint8Array): bigint[] {
  const input = Buffer.from(transcriptBytes(GADGET_TAG, [context, 0]));
  const out = new Array<bigint>(XI);
  for (let k = 0; k < XI; k++) {
    input.writeUInt32BE(k, input.length - 4); // the index is the last, fixed-size field
    out[k] = BigInt('0x' + hash('sha512', input, 'hex')) % N;
  }
  return out;
}

/** Digest of Bob's whole OT-extension message (both parties compute it; Bob keeps it). */
function oteTranscript(sid: Uint8Array, m: OteMessageBytes): Uint8Array {
  return hash('sha256', transcriptBytes(OTE_TRANSCRIPT_TAG, [sid, m.u, m.verifyX, m.verifyT]), 'buffer');
}

/**
 * χ̃_l, χ̂_l by Fiat–Shamir from the session id, the digest of Bob's message and τ (the 32-byte
 * big-endian scalars, width-major): fixed only once Alice's payloads are. Exported for tests.
 */
export function mulChallenges(sid: Uint8Array, oteDigest: Uint8Array, tau: Uint8Array): { chiTilde: bigint[]; chiHat: bigint[] } {
  const digest = hash('sha256', transcriptBytes(MUL_CHALLENGE_TAG, [sid, oteDigest, tau]), 'buffer');
  const chiTilde: bigint[] = [];
  const chiHat: bigint[] = [];
  for (let l = 0; l < L; l++) {
    chiTilde.push(hashToScalar(G, MUL_CHI_TAG, [digest, 'tilde', l]));
    chiHat.push(hashToScalar(G, MUL_CHI_TAG, [digest, 'hat', l]));
  }
  return { chiTilde, chiHat };
}

const scalarHex = (s: bigint): string => s.toString(16).padStart(SCALAR_HEX, '0');

/** H(sid, r_{1,1..XI}, r_{2,1..XI}), r as 64-digit hex. Exported for tests. */
export function verifyRDigest(sid: Uint8Array, rHex: string[]): Uint8Array {
  return hash('sha256', transcriptBytes(VERIFY_R_TAG, [sid, Buffer.from(rHex.join(''), 'hex')]), 'buffer');
}

function isScalar(s: unknown): s is bigint {
  return typeof s === 'bigint' && s >= 0n && s < N;
}

function checkGadget(gadget: readonly bigint[]): void {
  if (!Array.isArray(gadget) || gadget.length !== XI || !gadget.every(isScalar)) throw badState(`the gadget vector must be ${XI} scalars`);
}

function checkSeeds(seeds: unknown, what: string): void {
  if (!Array.isArray(seeds) || seeds.length !== KAPPA || !seeds.every((s) => s instanceof Uint8Array && s.length === 32)) {
    throw badState(`${what} must be ${KAPPA} seeds of 32 bytes`);
  }
}

/** Parses a 64-digit hex scalar < n; undefined if it is not one. */
function parseScalar(s: unknown): bigint | undefined {
  if (typeof s !== 'string' || s.length !== SCALAR_HEX || !HEX_RE.test(s)) return undefined;
  const v = BigInt('0x' + s);
  return v < N ? v : undefined;
}

function parseScalars(a: unknown, count: number): bigint[] | undefined {
  if (!Array.isArray(a) || a.length !== count) return undefined;
  const out: bigint[] = [];
  for (const s of a) {
    const v = parseScalar(s);
    if (v === undefined) return undefined;
    out.push(v);
  }
  return out;
}

/**
 * Bob, round 1: random choice bits (the first XI are his OT choices, the rest KOS padding), his
 * random input chi = Σ_{k: x_k = 1} g_k, and the OT-extension message for Alice. `sid` must be
 * unique per multiplication of the pair (see ote.ts).
 */
export function voleReceiverRound1(setup: VoleReceiverSetup, sid: Uint8Array, gadget: bigint[], rng: Rng = secureRng): { chi: bigint; keep: VoleReceiverKeep; message: VoleOteMessage } {
  checkSeeds(setup.seeds0, 'seeds0');
  checkSeeds(setup.seeds1, 'seeds1');
  checkGadget(gadget);
  const bits = Uint8Array.from(rng(COLUMN_BYTES));
  if (bits.length !== COLUMN_BYTES) throw badState('the rng returned the wrong number of bytes');
  const chi = inputOf(gadget, bits);
  const nonce = Uint8Array.from(rng(32));
  const sidB = freshSid(sid, 'bob', nonce);
  const ote = oteReceiverExtend(setup.seeds0, setup.seeds1, sidB, bits);
  const keep: VoleReceiverKeep = { bits: toHex(bits), transcript: toHex(oteTranscript(sidB, ote)), nonce: toHex(nonce) };
  wipe(bits);
  return { chi, keep, message: { ...encodeOteMessage(ote), nonce: toHex(nonce) } };
}

/** chi = Σ_k g_k x_k mod n, multiplying by the bit rather than branching on it. */
function inputOf(gadget: readonly bigint[], bits: Uint8Array): bigint {
  let acc = 0n;
  for (let k = 0; k < XI; k++) acc += gadget[k] * BigInt((bits[k >> 3] >>> (k & 7)) & 1);
  return acc % N;
}

/**
 * Alice, round 2: checks Bob's OT extension (ProtocolAbort 'dkls.ote_check' naming him), runs the
 * transfer with correlations (ã_1, ã_2, â_1, â_2) drawn fresh, and returns her output shares
 * c_l = Σ_k g_k z̃^A_{l,k} with the message that lets Bob compute d_l = a_l·chi − c_l.
 */
export function voleSenderRound2(setup: VoleSenderSetup, sid: Uint8Array, gadget: bigint[], inputs: bigint[], message: OteMessage, culprit: string, rng: Rng = secureRng): { outputs: bigint[]; message: MulMessage } {
  checkSeeds(setup.seeds, 'seeds');
  if (!(setup.delta instanceof Uint8Array) || setup.delta.length !== ROW_BYTES) throw badState(`Δ must be ${ROW_BYTES} bytes`);
  checkGadget(gadget);
  if (!Array.isArray(inputs) || inputs.length !== L || !inputs.every(isScalar)) throw badState(`the inputs must be ${L} scalars`);
  const { nonce: bobNonce, ...oteOnly } = (typeof message === 'object' && message !== null ? message : {}) as VoleOteMessage;
  const sidB = freshSid(sid, 'bob', nonceOf(bobNonce, culprit, 'OT-extension'));
  const ote = decodeOteMessage(oteOnly, culprit);
  const aliceNonce = Uint8Array.from(rng(32));
  const sidA = freshSid(sidB, 'alice', aliceNonce);
  // z^A_{w,k} = v0[w·XI + k]; width w < L carries ã_{w+1}, width L + l carries â_{l+1}.
  const { v0, v1 } = oteSenderOutputs(setup.delta, setup.seeds, sidB, ote, OT_WIDTH, culprit, sidA);
  const aTilde: bigint[] = [];
  const aHat: bigint[] = [];
  for (let l = 0; l < L; l++) aTilde.push(G.randomScalar(rng));
  for (let l = 0; l < L; l++) aHat.push(G.randomScalar(rng));
  const correlations = [...aTilde, ...aHat];

  const tauParts = new Array<string>(OT_WIDTH * XI);
  for (let w = 0; w < OT_WIDTH; w++) {
    const shift = correlations[w] + N;
    for (let k = 0, i = w * XI; k < XI; k++, i++) tauParts[i] = scalarHex((v1[i] - v0[i] + shift) % N);
  }
  const tau = tauParts.join('');

  const { chiTilde, chiHat } = mulChallenges(sidA, oteTranscript(sidB, ote), Buffer.from(tau, 'hex'));
  const r = new Array<string>(L * XI);
  const verifyU: string[] = [];
  const gamma: string[] = [];
  const outputs: bigint[] = [];
  for (let l = 0; l < L; l++) {
    let c = 0n;
    for (let k = 0; k < XI; k++) {
      const zt = v0[l * XI + k];
      r[l * XI + k] = scalarHex((chiTilde[l] * zt + chiHat[l] * v0[(L + l) * XI + k]) % N);
      c += gadget[k] * zt;
    }
    outputs.push(c % N);
    verifyU.push(scalarHex((chiTilde[l] * aTilde[l] + chiHat[l] * aHat[l]) % N));
    gamma.push(scalarHex((inputs[l] - aTilde[l] + N) % N));
  }
  v0.fill(0n);
  v1.fill(0n);
  return { outputs, message: { tau, verifyR: toHex(verifyRDigest(sidA, r)), verifyU, gamma, nonce: toHex(aliceNonce) } };
}

function decodeKeep(keep: VoleReceiverKeep): { bits: Uint8Array; transcript: Uint8Array; nonce: Uint8Array } {
  if (typeof keep !== 'object' || keep === null) throw badState('the kept state is missing');
  try {
    return { bits: fromHex(keep.bits, 'bits', COLUMN_BYTES), transcript: fromHex(keep.transcript, 'transcript', 32), nonce: fromHex(keep.nonce, 'nonce', 32) };
  } catch {
    throw badState('the kept state is malformed');
  }
}

function decodeMulMessage(message: unknown, culprit: string): { tau: bigint[]; tauBytes: Uint8Array; verifyR: Uint8Array; verifyU: bigint[]; gamma: bigint[] } {
  const bad = (field: string) => new ProtocolAbort('dkls.bad_message', culprit, `${culprit}'s multiplication message: ${field} is malformed`, { field });
  if (typeof message !== 'object' || message === null) throw bad('message');
  const m = message as Record<string, unknown>;
  const t = m.tau;
  if (typeof t !== 'string' || t.length !== OT_WIDTH * XI * SCALAR_HEX) throw bad('tau');
  // Node's hex decoder stops at the first pair that is not hex: a full-length result proves the
  // string is all hex digits, without a regular expression over 100 KB.
  const tauBytes = Buffer.from(t, 'hex');
  if (tauBytes.length !== OT_WIDTH * XI * 32) throw bad('tau');
  const tau = new Array<bigint>(OT_WIDTH * XI);
  for (let i = 0; i < tau.length; i++) {
    const v = BigInt('0x' + t.slice(i * SCALAR_HEX, (i + 1) * SCALAR_HEX));
    if (v >= N) throw bad('tau');
    tau[i] = v;
  }
  if (typeof m.verifyR !== 'string') throw bad('verifyR');
  let verifyR: Uint8Array;
  try {
    verifyR = fromHex(m.verifyR, 'verifyR', 32);
  } catch {
    throw bad('verifyR');
  }
  const verifyU = parseScalars(m.verifyU, L);
  if (!verifyU) throw bad('verifyU');
  const gamma = parseScalars(m.gamma, L);
  if (!gamma) throw bad('gamma');
  return { tau, tauBytes, verifyR, verifyU, gamma };
}

/**
 * Bob, finish: recomputes his OT outputs v (from seeds0 and the session id), completes the
 * transfer z^B_{w,k} = x_k·τ_{w,k} − v_{w,k}, derives the challenges from his kept transcript and
 * Alice's τ, checks her r values through their hash (ProtocolAbort 'dkls.mul_check' naming her)
 * and returns d_l = chi·gamma_l + Σ_k g_k z̃^B_{l,k}.
 */
export function voleReceiverFinish(setup: VoleReceiverSetup, sid: Uint8Array, gadget: bigint[], chi: bigint, keep: VoleReceiverKeep, message: MulMessage, culprit: string): bigint[] {
  checkSeeds(setup.seeds0, 'seeds0');
  checkGadget(gadget);
  const kept = decodeKeep(keep);
  if (!isScalar(chi) || inputOf(gadget, kept.bits) !== chi) throw badState('chi does not match the kept choice bits');
  const m = decodeMulMessage(message, culprit);
  const sidB = freshSid(sid, 'bob', kept.nonce);
  const sidA = freshSid(sidB, 'alice', nonceOf((message as { nonce?: unknown } | null)?.nonce, culprit, 'multiplication'));
  const { chiTilde, chiHat } = mulChallenges(sidA, kept.transcript, m.tauBytes);
  const v = oteReceiverOutputs(setup.seeds0, sidB, OT_WIDTH, sidA);
  const x = new Array<bigint>(XI);
  for (let k = 0; k < XI; k++) x[k] = BigInt((kept.bits[k >> 3] >>> (k & 7)) & 1);
  wipe(kept.bits);

  // r_{l,k} = x_k·u_l − χ̃_l z̃^B_{l,k} − χ̂_l ẑ^B_{l,k}
  //         = x_k·(u_l − χ̃_l τ̃_{l,k} − χ̂_l τ̂_{l,k}) + χ̃_l ṽ_{l,k} + χ̂_l v̂_{l,k}, kept non-negative.
  const r = new Array<string>(L * XI);
  const outputs: bigint[] = [];
  for (let l = 0; l < L; l++) {
    const ct = chiTilde[l], ch = chiHat[l];
    const negCt = N - ct, negCh = N - ch;
    let d = chi * m.gamma[l];
    for (let k = 0; k < XI; k++) {
      const it = l * XI + k, ih = (L + l) * XI + k;
      const s = m.verifyU[l] + negCt * m.tau[it] + negCh * m.tau[ih];
      r[it] = scalarHex((x[k] * s + ct * v[it] + ch * v[ih]) % N);
      d += gadget[k] * (x[k] * m.tau[it] + N - v[it]);
    }
    outputs.push(d % N);
  }
  v.fill(0n);
  x.fill(0n);
  if (!equalBytes(verifyRDigest(sidA, r), m.verifyR)) {
    outputs.fill(0n);
    throw new ProtocolAbort('dkls.mul_check', culprit, `${culprit}'s multiplication message fails the consistency check`);
  }
  return outputs;
}
