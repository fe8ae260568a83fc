import { EPHEMERAL_PROOF_BYTES } from '../../crypto/ecies.ts';
import { fromHex } from '../../common/bytes.ts';
import { canonicalJson } from '../../common/canonical-json.ts';
import { CustosError } from '../../common/errors.ts';
import { checkParams, groupOfParams } from './params.ts';
import { SHARE_CIPHERTEXT_BYTES } from './payload.ts';
import { DECRYPTION_PROOF_BYTES, SHARED_POINT_BYTES } from '../../crypto/decryption-proof.ts';
import type { Group } from '../../crypto/group.ts';
import type { DkgParams, DkgRound1State, DkgRound2State, DkgState } from './types.ts';

/**
 * Serialised DKG state between rounds: canonical JSON with `version: 1` and the `step` it has
 * completed ('round1' or 'round2'). The state holds SECRET shares (this party's own share and,
 * after round 2, the shares it received), so the caller seals the string (the node seals it with
 * its HSM key, purpose 'dkg-secret') and never logs or returns it. Errors here never quote the state.
 */
export function serializeState(state: DkgState): string {
  return canonicalJson(state);
}

const badState = (message: string) => new CustosError('dkg.bad_state', `DKG state: ${message}`, { status: 500 });

/** Parses and checks a serialised state (e.g. after unsealing). Throws CustosError `dkg.bad_state`. */
export function parseState(json: string): DkgState {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw badState('not JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badState('not an object');
  const o = raw as Record<string, unknown>;
  if (o.version !== 1) throw badState(`unsupported version ${JSON.stringify(o.version ?? null)}`);
  const base = o.step === 'round1'
    ? ['version', 'step', 'params', 'round1', 'ownShare']
    : o.step === 'round2'
      ? ['version', 'step', 'params', 'round1', 'ownShare', 'received', 'shares', 'groupCommitments', 'round2']
      : undefined;
  if (!base) throw badState('unknown step');
  const ecdsa = typeof o.params === 'object' && o.params !== null && (o.params as DkgParams).scheme === 'ecdsa-secp256k1';
  const keys = ecdsa ? [...base, 'ecdsa'] : base;
  if (Object.keys(o).length !== keys.length || keys.some((k) => !Object.hasOwn(o, k))) throw badState(`fields must be exactly ${keys.join(', ')}`);
  const params = o.params as DkgParams;
  try {
    checkParams(params);
  } catch {
    throw badState('params are malformed');
  }
  const group = groupOfParams(params);
  const others = params.parties.filter((p) => p !== params.self);
  // Structure only: the state was sealed by this party, and the rounds decode (and so fully
  // validate) every point they use. Decoding here would double the cost of each round.
  checkRound1Shape(params, group.pointBytes, params.self, o.round1, 'round1');
  checkScalar(group, o.ownShare, 'ownShare');
  if (o.step === 'round2') {
    const received = record(o.received, 'received', others);
    for (const p of others) {
      const r = record(received[p], `received.${p}`, ['payload', 'signature']);
      if (typeof r.signature !== 'string') throw badState(`received.${p}.signature is malformed`);
      checkRound1Shape(params, group.pointBytes, p, r.payload, `received.${p}.payload`);
    }
    const shares = record(o.shares, 'shares');
    for (const p of Object.keys(shares)) {
      if (!others.includes(p)) throw badState('shares names an unknown party');
      checkScalar(group, shares[p], 'shares');
    }
    hexArray(o.groupCommitments, 'groupCommitments', params.threshold, group.pointBytes);
    const r2 = record(o.round2, 'round2', ecdsa ? ['echoes', 'complaints', 'ecdsa'] : ['echoes', 'complaints']);
    const echoes = record(r2.echoes, 'round2.echoes', others);
    for (const p of others) {
      const e = record(echoes[p], `round2.echoes.${p}`, ['digest', 'signature']);
      hex(e.digest, `round2.echoes.${p}.digest`, 32);
      hex(e.signature, `round2.echoes.${p}.signature`);
    }
    if (!Array.isArray(r2.complaints)) throw badState('round2.complaints is malformed');
    for (const c of r2.complaints as unknown[]) {
      const x = record(c, 'round2.complaints[]', ['accused', 'shared', 'proof']);
      if (typeof x.accused !== 'string' || !others.includes(x.accused)) throw badState('round2.complaints[].accused is malformed');
      hex(x.shared, 'round2.complaints[].shared', SHARED_POINT_BYTES);
      hex(x.proof, 'round2.complaints[].proof', DECRYPTION_PROOF_BYTES);
    }
  }
  return o as unknown as DkgState;
}

function record(v: unknown, field: string, keys?: string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badState(`${field} is malformed`);
  const o = v as Record<string, unknown>;
  if (keys && (Object.keys(o).length !== keys.length || keys.some((k) => !Object.hasOwn(o, k)))) throw badState(`${field} is malformed`);
  return o;
}

function hex(v: unknown, field: string, bytes?: number): void {
  if (typeof v !== 'string' || !/^(?:[0-9a-f]{2})*$/.test(v) || (bytes !== undefined && v.length !== 2 * bytes)) throw badState(`${field} is malformed`);
}

function hexArray(v: unknown, field: string, length: number, bytes: number): void {
  if (!Array.isArray(v) || v.length !== length) throw badState(`${field} is malformed`);
  v.forEach((x) => hex(x, field, bytes));
}

function checkRound1Shape(params: DkgParams, pointBytes: number, dealer: string, v: unknown, field: string): void {
  const o = record(v, field, params.scheme === 'ecdsa-secp256k1' ? ['commitments', 'proofOfKnowledge', 'shares', 'shareProofs', 'ecdsa'] : ['commitments', 'proofOfKnowledge', 'shares', 'shareProofs']);
  hexArray(o.commitments, `${field}.commitments`, params.threshold, pointBytes);
  hex(o.proofOfKnowledge, `${field}.proofOfKnowledge`, pointBytes + 32);
  const receivers = params.parties.filter((p) => p !== dealer);
  const shares = record(o.shares, `${field}.shares`, receivers);
  for (const p of receivers) hex(shares[p], `${field}.shares`, SHARE_CIPHERTEXT_BYTES);
  const proofs = record(o.shareProofs, `${field}.shareProofs`, receivers);
  for (const p of receivers) hex(proofs[p], `${field}.shareProofs`, EPHEMERAL_PROOF_BYTES);
}

function checkScalar(group: Group, v: unknown, field: string): void {
  hex(v, field, 32);
  try {
    group.decodeScalar(fromHex(v as string));
  } catch {
    throw badState(`${field} is not a canonical scalar`); // names the field, never the value
  }
}

/** The state if it is waiting in `step`; a CustosError `dkg.wrong_step` otherwise. */
export function expectStep(state: DkgState, step: 'round1'): DkgRound1State;
export function expectStep(state: DkgState, step: 'round2'): DkgRound2State;
export function expectStep(state: DkgState, step: DkgState['step']): DkgState {
  if (typeof state !== 'object' || state === null || state.version !== 1) throw new CustosError('dkg.bad_state', 'DKG state is missing or of an unsupported version', { status: 500 });
  if (state.step !== step) throw new CustosError('dkg.wrong_step', `DKG state is at ${String(state.step)}, not ${step}`, { status: 409 });
  return state;
}
