import { equalBytes, fromHex, toHex } from '../../common/bytes.ts';
import { CustosError, ProtocolAbort } from '../../common/errors.ts';
import { decryptWithProof } from '../../crypto/decryption-proof.ts';
import { evaluateCommitments, verifyShare } from '../../crypto/feldman.ts';
import type { Group, GroupPoint } from '../../crypto/group.ts';
import { transcriptHash } from '../../crypto/transcript.ts';
import { payloadDigest, type Authenticator, type Inbound } from '../message.ts';
import { verifies, verifyInbound } from './inbound.ts';
import { isEcdsa } from '../../common/schemes.ts';
import { setupFinish } from '../dkls23/setup.ts';
import { groupOfParams, indexOf, ROUND1, ROUND2, setupContext, shareContext } from './params.ts';
import { parseRound1, parseRound2, type ParsedComplaint, type ParsedRound1 } from './payload.ts';
import { expectStep } from './state.ts';
import type { DkgParams, DkgResult, DkgState, Round2Payload } from './types.ts';

const TRANSCRIPT_TAG = 'custos/dkg/transcript/v1';

/**
 * Finish: receive every other party's round-2 broadcast and end the DKG, or abort naming a culprit.
 *
 * 1. Echo check (Bracha-style consistent broadcast, reduced to one echo round): if party k echoes,
 *    for dealer j, a digest other than the one we hold, and j's signature in the echo verifies,
 *    j signed two round-1 broadcasts: `dkg.equivocation`, culprit j. If the signature does not
 *    verify, k lied: `dkg.bad_echo`, culprit k.
 * 2. Complaints (ours included), judged by everyone from j's signed ciphertext: a decryption
 *    proof that does not verify names the complainer (`dkg.bad_complaint`); a share that does not
 *    open or fails the Feldman check names the dealer (`dkg.bad_share`); a good share names the
 *    complainer (`dkg.false_complaint`).
 * 3. Otherwise (RFC 9591 Appendix C; FROST Figure 1 round 2): signing share = Σ_j f_j(self);
 *    group commitments = Σ_j C_j (so [0] is the group key); verifying share of each party i =
 *    the group commitments evaluated at i; transcript hash over all round-1 and round-2 digests.
 *
 * The returned secretShare is SECRET: seal it, wipe it.
 */
export function finish(state: DkgState, inbound: Inbound<Round2Payload>[], auth: Authenticator): DkgResult {
  const s = expectStep(state, 'round2');
  const { params } = s;
  const self = params.self;
  const group = groupOfParams(params);
  const verified = verifyInbound(params, inbound, ROUND2, auth);
  const round2 = new Map(verified.map((m) => [m.from, parseRound2(params, m.from, m.payload)]));

  // Round-1 broadcasts as this party holds them (its own included).
  const round1 = (p: string) => (p === self ? s.round1 : s.received[p].payload);
  const digests1 = new Map(params.parties.map((p) => [p, payloadDigest(round1(p))]));

  for (const [k, r] of round2) {
    for (const [j, { digest, echo }] of r.echoes) {
      if (equalBytes(digest, digests1.get(j)!)) continue;
      if (verifies(auth, j, ROUND1, digest, echo.signature)) {
        throw new ProtocolAbort('dkg.equivocation', j, `${j} signed two different round-1 broadcasts (seen through ${k}'s echo)`, { witness: k });
      }
      throw new ProtocolAbort('dkg.bad_echo', k, `${k} echoed a round-1 broadcast of ${j} that ${j} did not sign`, { dealer: j });
    }
  }

  const ownComplaints = parseRound2(params, self, s.round2).complaints;
  for (const k of params.parties) {
    const complaints = k === self ? ownComplaints : round2.get(k)!.complaints;
    for (const c of complaints) judgeComplaint(params, group, k, c, parseRound1(params, group, c.accused, round1(c.accused)));
  }

  const shares = params.parties.filter((p) => p !== self).map((j) => {
    if (!Object.hasOwn(s.shares, j)) throw new CustosError('dkg.bad_state', `DKG state has no share from ${j} and no complaint against it`, { status: 500 });
    return group.decodeScalar(fromHex(s.shares[j]));
  });
  const secret = shares.reduce((acc, x) => group.Fn.add(acc, x), group.decodeScalar(fromHex(s.ownShare)));

  const commitments = s.groupCommitments.map((c, k) => group.decodePoint(fromHex(c), `groupCommitments[${k}]`));
  const verifying = new Map<string, GroupPoint>(params.parties.map((p) => [p, evaluateCommitments(group, commitments, indexOf(params, p))]));
  if (secret === 0n || !group.base.multiply(secret).equals(verifying.get(self)!)) {
    // Every share passed its Feldman check, so this cannot happen unless the state is corrupt.
    throw new CustosError('dkg.bad_state', 'the computed signing share does not match its verifying share', { status: 500 });
  }

  let ecdsa: Pick<DkgResult, 'chainCode' | 'pairs'> = {};
  if (isEcdsa(params.scheme)) {
    if (!s.ecdsa) throw new CustosError('dkg.bad_state', 'ECDSA key generation state has no pairwise setup', { status: 500 });
    const r1 = new Map(params.parties.map((p) => [p, round1(p).ecdsa!]));
    const r2 = new Map(params.parties.map((p) => [p, (p === self ? s.round2 : round2.get(p)!.payload).ecdsa!]));
    ecdsa = { chainCode: setupFinish(setupContext(params), r1, r2), pairs: s.ecdsa.pairs };
  }

  const digests2 = params.parties.map((p) => (p === self ? payloadDigest(s.round2) : verified.find((m) => m.from === p)!.digest));
  const transcript = transcriptHash(TRANSCRIPT_TAG, [
    params.sessionId, params.scheme, params.threshold, params.parties.length, ...params.parties,
    ...params.parties.map((p) => digests1.get(p)!),
    ...digests2,
  ]);

  return {
    version: 1,
    scheme: params.scheme,
    sessionId: params.sessionId,
    threshold: params.threshold,
    parties: [...params.parties],
    self,
    index: Number(indexOf(params, self)),
    groupCommitments: commitments.map((c) => toHex(group.encodePoint(c))),
    verifyingShares: Object.fromEntries(params.parties.map((p) => [p, toHex(group.encodePoint(verifying.get(p)!))])),
    transcriptHash: toHex(transcript),
    secretShare: group.encodeScalar(secret),
    ...ecdsa,
  };
}

/** Judges complainer k's complaint against dealer j from j's signed ciphertext. Always throws. */
function judgeComplaint(params: DkgParams, group: Group, k: string, c: ParsedComplaint, dealer: ParsedRound1): never {
  const j = c.accused;
  const ct = dealer.shares.get(k)!;
  const context = shareContext(params, j, k);
  const recipient = fromHex(params.encryptionKeys[k]);
  let plain: Uint8Array | undefined;
  try {
    plain = decryptWithProof(recipient, ct, context, { shared: c.shared, proof: c.proof });
  } catch {
    throw new ProtocolAbort('dkg.bad_share', j, `${j}'s encrypted share for ${k} does not decrypt (proven by ${k})`, { complainer: k });
  }
  if (plain === undefined) {
    throw new ProtocolAbort('dkg.bad_complaint', k, `${k} complained about ${j} with a decryption proof that does not verify`, { accused: j });
  }
  let valid = false;
  try {
    valid = verifyShare(group, dealer.commitments, indexOf(params, k), group.decodeScalar(plain));
  } catch {
    valid = false;
  } finally {
    plain.fill(0);
  }
  if (!valid) throw new ProtocolAbort('dkg.bad_share', j, `${j}'s share for ${k} does not match ${j}'s commitments (proven by ${k})`, { complainer: k });
  throw new ProtocolAbort('dkg.false_complaint', k, `${k} complained about ${j}, but ${j}'s share for ${k} is valid`, { accused: j });
}
