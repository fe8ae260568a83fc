import { fromHex, toHex } from '../../common/bytes.ts';
import { ProtocolAbort } from '../../common/errors.ts';
import { getGroup, type GroupPoint } from '../../crypto/group.ts';
import { lagrangeCoefficient } from '../../crypto/lagrange.ts';
import { secureRng, type Rng } from '../../crypto/random.ts';
import { transcriptHash } from '../../crypto/transcript.ts';
import { BROADCAST, payloadDigest, type Authenticator } from '../message.ts';
import { gadgetContext, mulSid, presignSid } from './params.ts';
import type { PairMaterial } from './setup.ts';
import { gadgetVector, voleReceiverFinish, voleReceiverRound1, voleSenderRound2, type MulMessage, type VoleOteMessage as OteMessage, type VoleReceiverKeep, type VoleReceiverSetup, type VoleSenderSetup } from './vole.ts';

/**
 * DKLs23 presigning (ePrint 2023/765, Protocol 3.6 steps 1–3 — everything that does not depend on
 * the message), for one quorum and a batch of presignatures at once. Sans-IO: each round takes
 * what the previous one kept and the messages received, and returns what to keep and to send.
 *
 * Party i samples the instance key r_i and the inversion mask φ_i and commits to R_i = r_i·G.
 * With every other quorum member j it runs two random-VOLE multiplications (vole.ts): as Bob in
 * (j -> i), with its random input χ_{i,j}, and as Alice in (i -> j), with inputs (r_i, sk_i) where
 * sk_i = λ_i·x_i is its Lagrange-weighted key share. Round 2 opens R_i and sends Γ^u = c_u·G,
 * Γ^v = c_v·G and ψ = φ_i − χ_{i,j}; round 3 checks, per sender j and naming j on failure:
 * the commitment opening, the multiplication check, χ·R_j − Γ^u_j = d_u·G and χ·pk_j − Γ^v_j = d_v·G
 * (pk_j = λ_j·Y_j from the DKG's verifying shares), plus the echo of every round-1 broadcast
 * (a commitment signed twice names its signer; an echo its author cannot back names the echoer).
 * The output, u_i and v_i with Σu = r·φ and Σv = sk·φ, together with φ_i and R = Σ R_j, is the
 * presignature share: SECRET, single-use.
 */
const secp = getGroup('secp256k1');
const Fn = secp.Fn;
const G = secp.base;

export const ROUND1 = 'presign/1';
export const ROUND2 = 'presign/2';

export type PresignKey = {
  keySession: string;
  parties: string[];
  self: string;
  /** DKG verifying shares (public), by party. */
  verifyingShares: Record<string, string>;
};

export type Round1Broadcast = { commitments: string[] };
export type Round1Direct = { ote: OteMessage[] };
export type Echo = { digest: string; signature: string };
export type Round2Item = { R: string; salt: string; gammaU: string; gammaV: string; psi: string; mul: MulMessage };
export type Round2Direct = { echoes: Record<string, Echo>; items: Round2Item[] };

type BobKeep = { chi: string; keep: VoleReceiverKeep };
/** SECRET. */
export type Round1State = {
  version: 1;
  step: 'presign/1';
  quorum: string[];
  ids: string[];
  items: { r: string; phi: string; salt: string; R: string; bob: Record<string, BobKeep> }[];
  commitments: string[];
};
/** SECRET. */
export type Round2State = {
  version: 1;
  step: 'presign/2';
  quorum: string[];
  ids: string[];
  items: { r: string; phi: string; R: string; bob: Record<string, BobKeep>; alice: Record<string, { cu: string; cv: string }> }[];
  /** Every other member's round-1 broadcast: payload digest and signature (echo evidence). */
  received: Record<string, { commitments: string[]; echo: Echo }>;
};

/** SECRET: one presignature share. */
export type PresignShare = { version: 1; id: string; quorum: string[]; sid: string; R: string; phi: string; u: string; v: string };

export type Inbound<P> = { from: string; payload: P; signature: string };

const sc = (x: bigint) => toHex(secp.encodeScalar(Fn.create(x)));
const pt = (p: GroupPoint) => toHex(secp.encodePoint(p));
const commitmentOf = (sid: Uint8Array, party: string, R: string, salt: string) => toHex(transcriptHash('custos/dkls23/instance-key-commitment/v1', [sid, party, fromHex(R), fromHex(salt)]));

const gadgets = new Map<string, bigint[]>();
function gadget(keySession: string, alice: string, bob: string): bigint[] {
  const k = `${keySession}\u0000${alice}\u0000${bob}`;
  const known = gadgets.get(k);
  if (known) return known;
  const g = gadgetVector(gadgetContext(keySession, alice, bob));
  if (gadgets.size > 4096) gadgets.clear();
  gadgets.set(k, g);
  return g;
}

function split32(hex: string): Uint8Array[] {
  const b = fromHex(hex);
  const out: Uint8Array[] = [];
  for (let o = 0; o < b.length; o += 32) out.push(b.subarray(o, o + 32));
  return out;
}
const bobSetup = (m: PairMaterial): VoleReceiverSetup => ({ seeds0: split32(m.bob.seeds0), seeds1: split32(m.bob.seeds1) });
const aliceSetup = (m: PairMaterial): VoleSenderSetup => ({ delta: fromHex(m.alice.delta), seeds: split32(m.alice.seeds) });

/** λ_p of quorum member p, with FROST-style identifiers (1-based positions in the key's parties). */
function lagrange(key: PresignKey, quorum: readonly string[], p: string): bigint {
  const idx = quorum.map((q) => BigInt(key.parties.indexOf(q) + 1));
  return lagrangeCoefficient(secp, idx, BigInt(key.parties.indexOf(p) + 1));
}

export function checkQuorum(key: PresignKey, quorum: readonly string[]): void {
  const ordered = key.parties.filter((p) => quorum.includes(p));
  if (ordered.length !== quorum.length || ordered.join(',') !== quorum.join(',') || !quorum.includes(key.self) || quorum.length < 2) {
    throw new ProtocolAbort('presign.bad_quorum', 'coordinator', `quorum ${quorum.join(',')} is not a list of distinct key parties in key order including ${key.self}`);
  }
}

export function presignRound1(key: PresignKey, pairs: Record<string, PairMaterial>, quorum: string[], ids: string[], rng: Rng = secureRng):
  { state: Round1State; broadcast: Round1Broadcast; direct: Record<string, Round1Direct> } {
  checkQuorum(key, quorum);
  const others = quorum.filter((p) => p !== key.self);
  const direct: Record<string, Round1Direct> = Object.fromEntries(others.map((j) => [j, { ote: [] as OteMessage[] }]));
  const items: Round1State['items'] = [];
  const commitments: string[] = [];
  for (const id of ids) {
    const sid = presignSid(key.keySession, id, quorum);
    const r = secp.randomScalar(rng);
    const phi = secp.randomScalar(rng);
    const R = pt(G.multiply(r));
    const salt = toHex(rng(32));
    const bob: Record<string, BobKeep> = {};
    for (const j of others) {
      const out = voleReceiverRound1(bobSetup(pairs[j]), mulSid(sid, j, key.self), gadget(key.keySession, j, key.self), rng);
      bob[j] = { chi: sc(out.chi), keep: out.keep };
      direct[j].ote.push(out.message);
    }
    const c = commitmentOf(sid, key.self, R, salt);
    commitments.push(c);
    items.push({ r: sc(r), phi: sc(phi), salt, R, bob });
  }
  return { state: { version: 1, step: ROUND1, quorum: [...quorum], ids: [...ids], items, commitments }, broadcast: { commitments }, direct };
}

function expectBatch(from: string, list: unknown, n: number, what: string): void {
  if (!Array.isArray(list) || list.length !== n) throw new ProtocolAbort('presign.bad_message', from, `${from}'s ${what} must list ${n} presignatures`);
}

export function presignRound2(key: PresignKey, pairs: Record<string, PairMaterial>, share: Uint8Array, state: Round1State,
  broadcasts: Inbound<Round1Broadcast>[], direct: Inbound<Round1Direct>[], rng: Rng = secureRng):
  { state: Round2State; direct: Record<string, Round2Direct> } {
  if (state.step !== ROUND1) throw new ProtocolAbort('presign.bad_state', key.self, 'presignature state is not at round 1');
  const { quorum, ids } = state;
  const others = quorum.filter((p) => p !== key.self);
  const received: Round2State['received'] = {};
  for (const b of broadcasts) {
    expectBatch(b.from, b.payload?.commitments, ids.length, 'round-1 commitments');
    if (!b.payload.commitments.every((c) => typeof c === 'string' && /^[0-9a-f]{64}$/.test(c))) throw new ProtocolAbort('presign.bad_message', b.from, `${b.from}'s round-1 commitments are malformed`);
    received[b.from] = { commitments: b.payload.commitments, echo: { digest: toHex(payloadDigest(b.payload)), signature: b.signature } };
  }
  const ote = new Map(direct.map((d) => [d.from, d.payload]));
  for (const j of others) {
    if (!received[j] || !ote.has(j)) throw new ProtocolAbort('presign.missing_message', 'coordinator', `no round-1 message from ${j}`);
    expectBatch(j, ote.get(j)!.ote, ids.length, 'round-1 OT extension messages');
  }
  const sk = Fn.mul(secp.decodeScalar(share), lagrange(key, quorum, key.self));
  const out: Record<string, Round2Direct> = Object.fromEntries(others.map((j) => [j, {
    echoes: Object.fromEntries(others.filter((k) => k !== j).map((k) => [k, received[k].echo])),
    items: [] as Round2Item[],
  }]));
  const items: Round2State['items'] = [];
  ids.forEach((id, n) => {
    const it = state.items[n];
    const sid = presignSid(key.keySession, id, quorum);
    const r = secp.decodeScalar(fromHex(it.r));
    const phi = secp.decodeScalar(fromHex(it.phi));
    const alice: Record<string, { cu: string; cv: string }> = {};
    for (const j of others) {
      const v = voleSenderRound2(aliceSetup(pairs[j]), mulSid(sid, key.self, j), gadget(key.keySession, key.self, j), [r, sk], ote.get(j)!.ote[n], j, rng);
      const [cu, cv] = v.outputs;
      alice[j] = { cu: sc(cu), cv: sc(cv) };
      const chi = secp.decodeScalar(fromHex(it.bob[j].chi));
      out[j].items.push({ R: it.R, salt: it.salt, gammaU: pt(G.multiply(nz(cu))), gammaV: pt(G.multiply(nz(cv))), psi: sc(Fn.sub(phi, chi)), mul: v.message });
    }
    items.push({ r: it.r, phi: it.phi, R: it.R, bob: it.bob, alice });
  });
  return { state: { version: 1, step: ROUND2, quorum, ids, items, received }, direct: out };
}

// c·G for a uniformly random c; 0 has probability 2^-256 and no encoding, so it is refused.
function nz(x: bigint): bigint {
  if (x === 0n) throw new ProtocolAbort('presign.degenerate', 'unidentified', 'a multiplication output is zero');
  return x;
}

/**
 * Round 3: every check of Protocol 3.6 step 3, then the presignature shares. Throws ProtocolAbort
 * naming the party whose message failed; nothing is returned then, so nothing of the session
 * can be used.
 */
export function presignRound3(key: PresignKey, pairs: Record<string, PairMaterial>, share: Uint8Array, state: Round2State,
  direct: Inbound<Round2Direct>[], auth: Authenticator): PresignShare[] {
  if (state.step !== ROUND2) throw new ProtocolAbort('presign.bad_state', key.self, 'presignature state is not at round 2');
  const { quorum, ids } = state;
  const others = quorum.filter((p) => p !== key.self);
  const msgs = new Map(direct.map((d) => [d.from, d.payload]));
  for (const j of others) {
    const m = msgs.get(j);
    if (!m) throw new ProtocolAbort('presign.missing_message', 'coordinator', `no round-2 message from ${j}`);
    if (typeof m !== 'object' || m === null || typeof m.echoes !== 'object' || m.echoes === null) throw new ProtocolAbort('presign.bad_message', j, `${j}'s round-2 message is malformed`);
    expectBatch(j, m.items, ids.length, 'round-2 items');
    // Echo: j's view of every third member's round-1 broadcast must be ours.
    for (const k of others) {
      if (k === j) continue;
      const e = m.echoes[k];
      if (!e || typeof e.digest !== 'string' || !/^[0-9a-f]{64}$/.test(e.digest) || typeof e.signature !== 'string') throw new ProtocolAbort('presign.bad_echo', j, `${j}'s round-2 echo has no valid entry for ${k}`);
      if (e.digest === state.received[k].echo.digest) continue;
      if (auth.verify(k, ROUND1, BROADCAST, fromHex(e.digest), e.signature)) throw new ProtocolAbort('presign.equivocation', k, `${k} signed two different round-1 commitments (seen through ${j}'s echo)`, { witness: j });
      throw new ProtocolAbort('presign.bad_echo', j, `${j} echoes a round-1 broadcast of ${k} that ${k} did not sign`);
    }
  }
  const sk = Fn.mul(secp.decodeScalar(share), lagrange(key, quorum, key.self));
  const pk = new Map(others.map((j) => [j, secp.decodePoint(fromHex(key.verifyingShares[j])).multiply(lagrange(key, quorum, j))]));
  return ids.map((id, n) => {
    const it = state.items[n];
    const sid = presignSid(key.keySession, id, quorum);
    const r = secp.decodeScalar(fromHex(it.r));
    const phi = secp.decodeScalar(fromHex(it.phi));
    let phiSum = phi;
    let u = 0n;
    let v = 0n;
    let R = secp.decodePoint(fromHex(it.R));
    for (const j of others) {
      const item = msgs.get(j)!.items[n];
      const Rj = point(j, item?.R, 'R');
      if (typeof item.salt !== 'string' || !/^[0-9a-f]{64}$/.test(item.salt) || commitmentOf(sid, j, item.R, item.salt) !== state.received[j].commitments[n]) {
        throw new ProtocolAbort('presign.bad_opening', j, `${j}'s instance key R does not open its round-1 commitment (presignature ${id})`);
      }
      const chi = secp.decodeScalar(fromHex(it.bob[j].chi));
      const [du, dv] = voleReceiverFinish(bobSetup(pairs[j]), mulSid(sid, j, key.self), gadget(key.keySession, j, key.self), chi, it.bob[j].keep, item.mul, j);
      const gammaU = point(j, item.gammaU, 'gammaU');
      const gammaV = point(j, item.gammaV, 'gammaV');
      // χ, d_u and d_v are secret (this party's VOLE input and output shares): constant-time multiplications.
      if (!Rj.multiply(nz(chi)).subtract(gammaU).equals(G.multiply(nz(du)))) {
        throw new ProtocolAbort('presign.consistency', j, `${j}'s multiplication output for its instance key fails the consistency check (χ·R_j − Γ^u ≠ d_u·G, presignature ${id})`);
      }
      if (!pk.get(j)!.multiply(nz(chi)).subtract(gammaV).equals(G.multiply(nz(dv)))) {
        throw new ProtocolAbort('presign.consistency', j, `${j}'s multiplication output for its key share fails the consistency check (χ·pk_j − Γ^v ≠ d_v·G, presignature ${id})`);
      }
      const psi = scalar(j, item.psi, 'psi');
      phiSum = Fn.add(phiSum, psi);
      const a = it.alice[j];
      u = Fn.add(u, Fn.add(secp.decodeScalar(fromHex(a.cu)), du));
      v = Fn.add(v, Fn.add(secp.decodeScalar(fromHex(a.cv)), dv));
      R = R.add(Rj);
    }
    u = Fn.add(u, Fn.mul(r, phiSum));
    v = Fn.add(v, Fn.mul(sk, phiSum));
    if (R.is0()) throw new ProtocolAbort('presign.degenerate', 'unidentified', `the instance keys of presignature ${id} sum to the identity`);
    return { version: 1, id, quorum: [...quorum], sid: toHex(sid), R: pt(R), phi: sc(phi), u: sc(u), v: sc(v) };
  });
}

function point(from: string, hex: unknown, field: string): GroupPoint {
  try {
    if (typeof hex !== 'string') throw new Error();
    return secp.decodePoint(fromHex(hex, field, 33), field);
  } catch {
    throw new ProtocolAbort('presign.bad_message', from, `${from}'s ${field} is not a valid secp256k1 point`);
  }
}

function scalar(from: string, hex: unknown, field: string): bigint {
  try {
    if (typeof hex !== 'string') throw new Error();
    return secp.decodeScalar(fromHex(hex, field, 32), field);
  } catch {
    throw new ProtocolAbort('presign.bad_message', from, `${from}'s ${field} is not a canonical scalar`);
  }
}

