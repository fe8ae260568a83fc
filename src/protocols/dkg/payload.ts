import { fromHex } from '../../common/bytes.ts';
import { isEcdsa } from '../../common/schemes.ts';
import { ProtocolAbort } from '../../common/errors.ts';
import { EPHEMERAL_PROOF_BYTES, eciesCiphertextLength, eciesEphemeralKey, verifyEphemeralProof } from '../../crypto/ecies.ts';
import { shareEphemeralContext } from './params.ts';
import { DECRYPTION_PROOF_BYTES, SHARED_POINT_BYTES } from '../../crypto/decryption-proof.ts';
import { getGroup, type Group, type GroupPoint } from '../../crypto/group.ts';
import { pokLength } from '../../crypto/schnorr-pok.ts';
import type { Complaint, DkgParams, Echo, Round1Payload, Round2Payload } from './types.ts';

/**
 * Strict shape checks of inbound payloads. Every payload reaching these has a valid signature by
 * `from`, so a malformed one is `from`'s fault: ProtocolAbort `dkg.bad_message`, culprit `from`.
 * Objects must carry exactly the expected fields; hex must be lowercase and of the exact length.
 */
export const SHARE_CIPHERTEXT_BYTES = eciesCiphertextLength(32);
const DIGEST_BYTES = 32;
const MAX_SIGNATURE_HEX = 1024;

class Reader {
  readonly from: string;
  readonly round: string;
  constructor(from: string, round: string) {
    this.from = from;
    this.round = round;
  }

  fail(field: string, message: string): never {
    throw new ProtocolAbort('dkg.bad_message', this.from, `${this.from}'s ${this.round} message: ${field} ${message}`, { field, round: this.round });
  }

  object(v: unknown, field: string, keys?: readonly string[]): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, 'must be an object');
    const o = v as Record<string, unknown>;
    if (keys) {
      const have = Object.keys(o);
      const extra = have.filter((k) => !keys.includes(k));
      if (extra.length) this.fail(field, `has unexpected field(s) ${extra.map((k) => JSON.stringify(k)).join(', ')}`);
      const missing = keys.filter((k) => !Object.hasOwn(o, k));
      if (missing.length) this.fail(field, `is missing field(s) ${missing.join(', ')}`);
    }
    return o;
  }

  hex(v: unknown, field: string, bytes?: number): Uint8Array {
    if (typeof v !== 'string' || !/^[0-9a-f]*$/.test(v) || v.length % 2 !== 0) this.fail(field, 'must be lowercase hex');
    if (bytes !== undefined && v.length !== 2 * bytes) this.fail(field, `must be ${bytes} bytes, got ${(v as string).length / 2}`);
    return fromHex(v as string, field);
  }

  point(group: Group, v: unknown, field: string): GroupPoint {
    const b = this.hex(v, field, group.pointBytes);
    try {
      return group.decodePoint(b, field);
    } catch {
      return this.fail(field, `is not a valid ${group.name} point`);
    }
  }
}

export type ParsedRound1 = {
  payload: Round1Payload;
  commitments: GroupPoint[];
  proof: Uint8Array;
  /** Ciphertext of the share for each receiver (every party but the sender). */
  shares: Map<string, Uint8Array>;
};

export function parseRound1(params: DkgParams, group: Group, from: string, payload: unknown): ParsedRound1 {
  const r = new Reader(from, 'dkg/1');
  const ecdsa = isEcdsa(params.scheme);
  const o = r.object(payload, 'payload', ecdsa ? ['commitments', 'proofOfKnowledge', 'shares', 'shareProofs', 'ecdsa'] : ['commitments', 'proofOfKnowledge', 'shares', 'shareProofs']);
  if (ecdsa) {
    // Shape only: the base-OT messages inside are checked (and their sender named) by the one
    // party each is addressed to, in setupRound2.
    const e = r.object(o.ecdsa, 'ecdsa', ['chainCodeCommitment', 'pairs', 'maskKeys']);
    r.hex(e.chainCodeCommitment, 'ecdsa.chainCodeCommitment', DIGEST_BYTES);
    const others = params.parties.filter((p) => p !== from);
    const pairs = r.object(e.pairs, 'ecdsa.pairs', others);
    for (const p of others) r.object(pairs[p], `ecdsa.pairs.${p}`, ['asBob', 'asAlice']);
    const later = params.parties.slice(params.parties.indexOf(from) + 1);
    const masks = r.object(e.maskKeys, 'ecdsa.maskKeys', later);
    for (const p of later) r.hex(masks[p], `ecdsa.maskKeys.${p}`, eciesCiphertextLength(32));
  }
  if (!Array.isArray(o.commitments) || o.commitments.length !== params.threshold) r.fail('commitments', `must be an array of ${params.threshold} points`);
  const commitments = (o.commitments as unknown[]).map((c, k) => r.point(group, c, `commitments[${k}]`));
  const proof = r.hex(o.proofOfKnowledge, 'proofOfKnowledge', pokLength(group));
  const receivers = params.parties.filter((p) => p !== from);
  const s = r.object(o.shares, 'shares', receivers);
  const sp = r.object(o.shareProofs, 'shareProofs', receivers);
  const shares = new Map<string, Uint8Array>();
  for (const p of receivers) {
    const field = `shares.${p}`;
    const ct = r.hex(s[p], field, SHARE_CIPHERTEXT_BYTES);
    // Checked here, for every receiver, so that every party agrees the ciphertext is well-formed
    // and a complaint about it can always carry a decryption proof.
    try {
      eciesEphemeralKey(ct);
    } catch {
      r.fail(field, 'has an invalid ephemeral key');
    }
    // The dealer must know the ephemeral secret (see eciesEncryptProvingEphemeral): checked by
    // every party for every receiver, so a copied ciphertext is caught before anyone complains.
    const pok = r.hex(sp[p], `shareProofs.${p}`, EPHEMERAL_PROOF_BYTES);
    if (!verifyEphemeralProof(ct, pok, shareEphemeralContext(params, from, p))) {
      throw new ProtocolAbort('dkg.bad_proof', from, `${from}'s dkg/1 message: the ciphertext for ${p} has no valid proof of its ephemeral key`, { field: `shareProofs.${p}` });
    }
    shares.set(p, ct);
  }
  return { payload: payload as Round1Payload, commitments, proof, shares };
}

export type ParsedComplaint = { accused: string; shared: Uint8Array; proof: Uint8Array };
export type ParsedRound2 = {
  payload: Round2Payload;
  echoes: Map<string, { digest: Uint8Array; echo: Echo }>;
  complaints: ParsedComplaint[];
};

export function parseRound2(params: DkgParams, from: string, payload: unknown): ParsedRound2 {
  const r = new Reader(from, 'dkg/2');
  const ecdsa = isEcdsa(params.scheme);
  const o = r.object(payload, 'payload', ecdsa ? ['echoes', 'complaints', 'ecdsa'] : ['echoes', 'complaints']);
  if (ecdsa) r.hex(r.object(o.ecdsa, 'ecdsa', ['chainCodeSeed']).chainCodeSeed, 'ecdsa.chainCodeSeed', 32);
  const senders = params.parties.filter((p) => p !== from);
  const e = r.object(o.echoes, 'echoes', senders);
  const echoes = new Map<string, { digest: Uint8Array; echo: Echo }>();
  for (const j of senders) {
    const field = `echoes.${j}`;
    const x = r.object(e[j], field, ['digest', 'signature']);
    const digest = r.hex(x.digest, `${field}.digest`, DIGEST_BYTES);
    const sig = r.hex(x.signature, `${field}.signature`);
    if (sig.length === 0 || (x.signature as string).length > MAX_SIGNATURE_HEX) r.fail(`${field}.signature`, 'has an implausible length');
    echoes.set(j, { digest, echo: x as Echo });
  }
  if (!Array.isArray(o.complaints) || o.complaints.length > senders.length) r.fail('complaints', `must be an array of at most ${senders.length} complaints`);
  const complaints: ParsedComplaint[] = [];
  const p256 = getGroup('p256');
  let last = -1;
  (o.complaints as unknown[]).forEach((c, k) => {
    const field = `complaints[${k}]`;
    const x = r.object(c, field, ['accused', 'shared', 'proof']) as Partial<Complaint>;
    const pos = typeof x.accused === 'string' ? params.parties.indexOf(x.accused) : -1;
    if (pos < 0 || x.accused === from) r.fail(`${field}.accused`, 'must be another party');
    if (pos <= last) r.fail(`${field}.accused`, 'complaints must be distinct and in party order');
    last = pos;
    const shared = r.hex(x.shared, `${field}.shared`, SHARED_POINT_BYTES);
    r.point(p256, x.shared, `${field}.shared`);
    complaints.push({ accused: x.accused as string, shared, proof: r.hex(x.proof, `${field}.proof`, DECRYPTION_PROOF_BYTES) });
  });
  return { payload: payload as Round2Payload, echoes, complaints };
}
