import { hash } from 'node:crypto';
import { fromHex, toHex, wipe } from '../../common/bytes.ts';
import { CustosError, ProtocolAbort } from '../../common/errors.ts';
import { getGroup } from '../../crypto/group.ts';
import { transcriptBytes, transcriptHash } from '../../crypto/transcript.ts';
import { GF208_BYTES, GF208_WORDS, gfLoad, gfMulAcc, gfMultiplier, gfStore, type GfMultiplier } from './gf2-208.ts';
import { BASE_OT_COUNT } from './params.ts';

/**
 * Random OT extension for one ordered pair and one session: KOS15 with the corrected consistency
 * check of its Fig. 10 (ePrint 2015/546, corrected version: the SoftSpokenOT-style check over
 * GF(2^(κ+s)) on the columns), the challenges derived by Fiat–Shamir from Bob's matrix u (DKLs23
 * ePrint 2023/765 §5.1 and p. 30), and the outputs randomised by a hash of each row (KOS Fig. 10,
 * "Transpose and randomise"), ready for DKLs18 Protocol 9's transfer step done in vole.ts.
 *
 * Roles: Alice (OTE sender) holds Δ (κ bits) and seeds[c] = m_{Δ_c} of the base OTs; Bob (OTE
 * receiver) holds both base-OT messages seeds0[c], seeds1[c]. Matrices are stored by column:
 * column c is EXTENDED bits (COLUMN_BYTES bytes) and row k of it is (col[k >> 3] >> (k & 7)) & 1.
 * Rows (after transposition) are κ bits (ROW_BYTES bytes) in the same bit order.
 *
 * Hazards:
 * - The seeds are reused by every session of the pair; only the session id makes the PRG output
 *   fresh. A session id used twice reveals the XOR of Bob's two choice vectors (u ⊕ u').
 * - A Bob who cheats on column c passes the check iff he guessed Δ_c: an unnoticed attempt
 *   teaches him one bit of Δ, a wrong guess aborts. A 'dkls.ote_check' abort must therefore
 *   retire the pair's base OTs (a new setup), not only end the session; otherwise repeated
 *   sessions would reveal all of Δ and with it Alice's inputs.
 */

/** κ: base OTs, columns of the extension matrix (the computational security of secp256k1). */
export const KAPPA = BASE_OT_COUNT;
/** s: statistical security parameter. */
export const STAT = 80;
/** ξ = 256 + 2s: OTs per multiplication (DKLs19 gadget length for a 256-bit field). */
export const XI = 256 + 2 * STAT;
/** κ + s: bit size of the check field GF(2^208). */
export const OT_SEC = KAPPA + STAT;
/** ξ + (κ + s): rows of the extension matrix; the last κ + s rows are random padding for the check. */
export const EXTENDED = XI + OT_SEC;
/** ξ / (κ + s): blocks of each column multiplied by a challenge. */
export const M = XI / OT_SEC;

export const COLUMN_BYTES = EXTENDED / 8;
export const ROW_BYTES = KAPPA / 8;

/** Bob's message: the matrix u (column-major, KAPPA x COLUMN_BYTES), and the check values
 * x̃ (verifyX, one field element) and t̃_c (verifyT, KAPPA field elements concatenated). */
export type OteMessage = { u: string; verifyX: string; verifyT: string };
export type OteMessageBytes = { u: Uint8Array; verifyX: Uint8Array; verifyT: Uint8Array };

const N = getGroup('secp256k1').order;
const PRG_TAG = 'custos/dkls23/ote-prg/v1';
const CHI_TAG = 'custos/dkls23/ote-chi/v1';
const CHI_EXPAND_TAG = 'custos/dkls23/ote-chi-expand/v1';
const ROW_KEY_TAG = 'custos/dkls23/ote-row/v1';

const badState = (message: string) => new CustosError('dkls.bad_state', `OT extension: ${message}`, { status: 500 });

function checkSeeds(seeds: readonly Uint8Array[], what: string): void {
  if (!Array.isArray(seeds) || seeds.length !== KAPPA || !seeds.every((s) => s instanceof Uint8Array && s.length === 32)) {
    throw badState(`${what} must be ${KAPPA} seeds of 32 bytes`);
  }
}

function checkSid(sid: Uint8Array): void {
  if (!(sid instanceof Uint8Array) || sid.length === 0) throw badState('the session id must be non-empty bytes');
}

/**
 * The PRG: column c of the matrix is SHA-256(transcript(PRG_TAG, sid, c, counter, seed)) for
 * counter = 0, 1, 2, truncated to COLUMN_BYTES. Returns the KAPPA columns concatenated.
 */
export function expandSeeds(seeds: readonly Uint8Array[], sid: Uint8Array): Buffer {
  checkSeeds(seeds, 'the seeds');
  checkSid(sid);
  const input = Buffer.from(transcriptBytes(PRG_TAG, [sid, 0, 0, new Uint8Array(32)]));
  // The last three fields are fixed-size: [len][column u32][len][counter u32][len][seed 32 bytes].
  const seedAt = input.length - 32;
  const counterAt = seedAt - 8;
  const columnAt = counterAt - 8;
  const out = Buffer.alloc(KAPPA * COLUMN_BYTES);
  for (let c = 0; c < KAPPA; c++) {
    input.writeUInt32BE(c, columnAt);
    input.set(seeds[c], seedAt);
    for (let i = 0, o = 0; o < COLUMN_BYTES; i++, o += 32) {
      input.writeUInt32BE(i, counterAt);
      out.write(hash('sha256', input, 'hex'), c * COLUMN_BYTES + o, Math.min(32, COLUMN_BYTES - o), 'hex');
    }
  }
  wipe(input);
  return out;
}

/** The M check challenges χ_1..χ_M ∈ GF(2^208), by Fiat–Shamir from the session id and u. */
export function oteChallenge(sid: Uint8Array, u: Uint8Array): Uint8Array[] {
  const digest = hash('sha256', transcriptBytes(CHI_TAG, [sid, u]), 'buffer');
  const out: Uint8Array[] = [];
  for (let j = 0; j < M; j++) out.push(transcriptHash(CHI_EXPAND_TAG, [digest, j]).slice(0, GF208_BYTES));
  return out;
}

/** Σ_j χ_j · block_j + block_M of the column at `offset` (KOS Fig. 10, check step 2), into acc. */
function combine(chis: readonly GfMultiplier[], column: Uint8Array, offset: number, acc: Uint32Array): void {
  gfLoad(column, offset + M * GF208_BYTES, acc);
  for (let j = 0; j < M; j++) gfMulAcc(chis[j], column, offset + j * GF208_BYTES, acc);
}

/**
 * The check values of a column-major matrix under the challenges: one field element per column,
 * concatenated. Bob applies it to t (verifyT) and to his choice bits (verifyX, one column); Alice
 * to q.
 */
export function checkValues(chis: readonly Uint8Array[], columns: Uint8Array, count: number): Uint8Array {
  const mults = chis.map(gfMultiplier);
  const out = new Uint8Array(count * GF208_BYTES);
  const acc = new Uint32Array(GF208_WORDS);
  for (let c = 0; c < count; c++) {
    combine(mults, columns, c * COLUMN_BYTES, acc);
    gfStore(acc, out, c * GF208_BYTES);
  }
  return out;
}

/**
 * Bob, extend: u_c = G(seeds0[c]) ⊕ G(seeds1[c]) ⊕ x for his EXTENDED choice bits x (the first XI
 * his OT choices, the rest random padding), and the check values under the Fiat–Shamir challenges.
 */
export function oteReceiverExtend(seeds0: readonly Uint8Array[], seeds1: readonly Uint8Array[], sid: Uint8Array, bits: Uint8Array): OteMessageBytes {
  if (!(bits instanceof Uint8Array) || bits.length !== COLUMN_BYTES) throw badState(`the choice bits must be ${COLUMN_BYTES} bytes`);
  const t0 = expandSeeds(seeds0, sid);
  const t1 = expandSeeds(seeds1, sid);
  const u = new Uint8Array(KAPPA * COLUMN_BYTES);
  for (let c = 0, o = 0; c < KAPPA; c++) {
    for (let i = 0; i < COLUMN_BYTES; i++, o++) u[o] = t0[o] ^ t1[o] ^ bits[i];
  }
  const chis = oteChallenge(sid, u);
  const verifyX = checkValues(chis, bits, 1);
  const verifyT = checkValues(chis, t0, KAPPA);
  wipe(t0, t1);
  return { u, verifyX, verifyT };
}

/**
 * Alice, extend and check: q_c = G(seeds[c]) ⊕ Δ_c·u_c, so that row k of q is t_k ⊕ x_k·Δ; then
 * KOS Fig. 10's check q̃_c = t̃_c ⊕ Δ_c·x̃ for every column, compared without early exit. Returns
 * q (SECRET). Throws ProtocolAbort('dkls.ote_check') naming Bob when the check fails.
 */
export function oteSenderExtend(delta: Uint8Array, seeds: readonly Uint8Array[], sid: Uint8Array, message: OteMessageBytes, culprit: string): Uint8Array {
  checkDelta(delta);
  const q = expandSeeds(seeds, sid);
  const { u, verifyX, verifyT } = message;
  for (let c = 0, o = 0; c < KAPPA; c++) {
    const m = -((delta[c >> 3] >>> (c & 7)) & 1) & 0xff;
    for (let i = 0; i < COLUMN_BYTES; i++, o++) q[o] ^= u[o] & m;
  }
  const mults = oteChallenge(sid, u).map(gfMultiplier);
  const acc = new Uint32Array(GF208_WORDS);
  const x = gfLoad(verifyX);
  const t = new Uint32Array(GF208_WORDS);
  let diff = 0;
  for (let c = 0; c < KAPPA; c++) {
    combine(mults, q, c * COLUMN_BYTES, acc);
    gfLoad(verifyT, c * GF208_BYTES, t);
    const m = -((delta[c >> 3] >>> (c & 7)) & 1);
    for (let w = 0; w < GF208_WORDS; w++) diff |= acc[w] ^ t[w] ^ (x[w] & m);
  }
  acc.fill(0);
  if (diff !== 0) {
    wipe(q);
    throw new ProtocolAbort('dkls.ote_check', culprit, `${culprit}'s OT-extension message fails the consistency check`);
  }
  return q;
}

function checkDelta(delta: Uint8Array): void {
  if (!(delta instanceof Uint8Array) || delta.length !== ROW_BYTES) throw badState(`Δ must be ${ROW_BYTES} bytes`);
}

/** 32x32 bit-matrix transpose in place (little-endian bit order): a[j] bit i <- a[i] bit j. */
function transpose32(a: Uint32Array): void {
  for (let s = 16, mask = 0x0000ffff; s > 0; s >>>= 1, mask ^= mask << s) {
    for (let k = 0; k < 32; k = (k + s + 1) & ~s) {
      const t = ((a[k] >>> s) ^ a[k + s]) & mask;
      a[k] ^= t << s;
      a[k + s] ^= t;
    }
  }
}

/**
 * Rows 0..rows-1 of a column-major KAPPA x EXTENDED matrix, each ROW_BYTES bytes: bit c of row k
 * is bit k of column c. `rows` must be a multiple of 32 (XI is).
 */
export function transposeRows(columns: Uint8Array, rows: number): Uint8Array {
  if (columns.length !== KAPPA * COLUMN_BYTES || rows % 32 !== 0 || rows > EXTENDED) throw badState('bad matrix dimensions for the transposition');
  const out = new Uint8Array(rows * ROW_BYTES);
  const block = new Uint32Array(32);
  for (let cb = 0; cb < KAPPA / 32; cb++) {
    for (let rb = 0; rb < rows / 32; rb++) {
      for (let i = 0; i < 32; i++) {
        const o = (cb * 32 + i) * COLUMN_BYTES + rb * 4;
        block[i] = columns[o] | (columns[o + 1] << 8) | (columns[o + 2] << 16) | (columns[o + 3] << 24);
      }
      transpose32(block);
      for (let j = 0; j < 32; j++) {
        const o = (rb * 32 + j) * ROW_BYTES + cb * 4;
        const v = block[j];
        out[o] = v; out[o + 1] = v >>> 8; out[o + 2] = v >>> 16; out[o + 3] = v >>> 24;
      }
    }
  }
  block.fill(0);
  return out;
}

/**
 * Randomised outputs (KOS Fig. 10, "Transpose and randomise", one hash per row and width index):
 * out[w·XI + k] = SHA-256(key ‖ k ‖ w ‖ row_k ⊕ xor) mod n with key = H(ROW_KEY_TAG, sid). The
 * input is 51 bytes, one SHA-256 block; every field after the 32-byte key has a fixed size. The
 * reduction of a 256-bit value mod n is within 2^-127 of uniform (n > 2^256 - 2^129).
 */
export function randomizeRows(sid: Uint8Array, rows: Uint8Array, width: number, xor?: Uint8Array): bigint[] {
  if (rows.length !== XI * ROW_BYTES || !Number.isInteger(width) || width < 1 || width > 255) throw badState('bad rows or width for the randomisation');
  const input = Buffer.alloc(32 + 2 + 1 + ROW_BYTES);
  input.set(transcriptHash(ROW_KEY_TAG, [sid]), 0);
  const out = new Array<bigint>(width * XI);
  for (let k = 0; k < XI; k++) {
    input.writeUInt16BE(k, 32);
    for (let i = 0; i < ROW_BYTES; i++) input[35 + i] = rows[k * ROW_BYTES + i] ^ (xor === undefined ? 0 : xor[i]);
    for (let w = 0; w < width; w++) {
      input[34] = w;
      out[w * XI + k] = BigInt('0x' + hash('sha256', input, 'hex')) % N;
    }
  }
  wipe(input);
  return out;
}

/**
 * Alice's random-OT outputs after the check: v0[w·XI + k] = H(k, w, q_k) and
 * v1[w·XI + k] = H(k, w, q_k ⊕ Δ), for k < XI and w < width (SECRET).
 */
export function oteSenderOutputs(delta: Uint8Array, seeds: readonly Uint8Array[], sid: Uint8Array, message: OteMessageBytes, width: number, culprit: string, rowSid: Uint8Array = sid): { v0: bigint[]; v1: bigint[] } {
  const q = oteSenderExtend(delta, seeds, sid, message, culprit);
  const rows = transposeRows(q, XI);
  wipe(q);
  const v0 = randomizeRows(rowSid, rows, width);
  const v1 = randomizeRows(rowSid, rows, width, delta);
  wipe(rows);
  return { v0, v1 };
}

/** Bob's random-OT outputs: v[w·XI + k] = H(k, w, t_k) = v_{x_k} of Alice's pair (SECRET). Needs
 * only seeds0: t is recomputed rather than kept between the rounds. */
export function oteReceiverOutputs(seeds0: readonly Uint8Array[], sid: Uint8Array, width: number, rowSid: Uint8Array = sid): bigint[] {
  const t = expandSeeds(seeds0, sid);
  const rows = transposeRows(t, XI);
  wipe(t);
  const v = randomizeRows(rowSid, rows, width);
  wipe(rows);
  return v;
}

export function encodeOteMessage(m: OteMessageBytes): OteMessage {
  return { u: toHex(m.u), verifyX: toHex(m.verifyX), verifyT: toHex(m.verifyT) };
}

/** Strict decoding of Bob's message; anything malformed is ProtocolAbort('dkls.bad_message') naming him. */
export function decodeOteMessage(message: unknown, culprit: string): OteMessageBytes {
  const bad = (field: string) => new ProtocolAbort('dkls.bad_message', culprit, `${culprit}'s OT-extension message: ${field} is malformed`, { field });
  if (typeof message !== 'object' || message === null) throw bad('message');
  const m = message as Record<string, unknown>;
  const field = (name: string, length: number): Uint8Array => {
    const v = m[name];
    if (typeof v !== 'string') throw bad(name);
    try {
      return fromHex(v, name, length);
    } catch {
      throw bad(name);
    }
  };
  return { u: field('u', KAPPA * COLUMN_BYTES), verifyX: field('verifyX', GF208_BYTES), verifyT: field('verifyT', KAPPA * GF208_BYTES) };
}
