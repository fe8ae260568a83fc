import { equalBytes, fromHex, toHex, wipe } from '../../common/bytes.ts';
import { CustosError, ProtocolAbort } from '../../common/errors.ts';
import { proveDecryption } from '../../crypto/decryption-proof.ts';
import { eciesDecrypt, encryptionPublicKey } from '../../crypto/ecies.ts';
import { sumCommitments, verifyShare } from '../../crypto/feldman.ts';
import { secureRng, type Rng } from '../../crypto/random.ts';
import { verifyKnowledge } from '../../crypto/schnorr-pok.ts';
import type { Authenticator, Inbound } from '../message.ts';
import { verifyInbound } from './inbound.ts';
import { isEcdsa } from '../../common/schemes.ts';
import { setupRound2 } from '../dkls23/setup.ts';
import { groupOfParams, indexOf, pokContext, ROUND1, setupContext, shareContext } from './params.ts';
import { parseRound1 } from './payload.ts';
import { expectStep } from './state.ts';
import type { Complaint, DkgRound2State, DkgState, Echo, Round1Payload, Round2Payload } from './types.ts';

/**
 * Round 2: receive every other dealer's round-1 broadcast, check it, and close round 1 with an
 * echo. A bad signature, a malformed payload or a bad proof of knowledge is visible to everyone
 * in the dealer-signed broadcast, so it aborts here naming the dealer. A share that does not open
 * or fails the Feldman check (RFC 9591 Appendix C.2 vss_verify) is seen by its receiver alone:
 * the receiver does not abort but complains, revealing a proof of decryption, so that finish can
 * judge it publicly.
 *
 * `encryptionSecretKey` is this party's P-256 scalar (32 bytes), lent by the HSM for this call.
 * The returned state is SECRET (received shares): seal it.
 */
export function round2(
  state: DkgState,
  inbound: Inbound<Round1Payload>[],
  encryptionSecretKey: Uint8Array,
  auth: Authenticator,
  rng: Rng = secureRng,
): { state: DkgRound2State; broadcast: Round2Payload } {
  const s = expectStep(state, 'round1');
  const { params } = s;
  const self = params.self;
  if (!equalBytes(encryptionPublicKey(encryptionSecretKey), fromHex(params.encryptionKeys[self], 'encryptionKeys.self'))) {
    throw new CustosError('dkg.wrong_encryption_key', `the encryption key supplied is not the one the session lists for ${self}`, { status: 500 });
  }
  const group = groupOfParams(params);
  const verified = verifyInbound(params, inbound, ROUND1, auth);
  const parsed = verified.map((m) => ({ ...m, ...parseRound1(params, group, m.from, m.payload) }));
  for (const m of parsed) {
    if (!verifyKnowledge(group, m.commitments[0], m.proof, pokContext(params, m.from))) {
      throw new ProtocolAbort('dkg.bad_proof', m.from, `${m.from}'s proof of knowledge of its secret does not verify`);
    }
  }

  const myIndex = indexOf(params, self);
  const shares: [string, string][] = [];
  const complaints: Complaint[] = [];
  for (const m of parsed) {
    const ct = m.shares.get(self)!;
    const context = shareContext(params, m.from, self);
    let plain: Uint8Array | undefined;
    let ok = false;
    try {
      plain = eciesDecrypt(encryptionSecretKey, ct, context);
      const share = group.decodeScalar(plain);
      ok = verifyShare(group, m.commitments, myIndex, share);
      if (ok) shares.push([m.from, toHex(plain)]);
    } catch {
      ok = false;
    } finally {
      wipe(plain);
    }
    if (!ok) {
      const revealed = proveDecryption(encryptionSecretKey, ct, context, rng);
      complaints.push({ accused: m.from, shared: toHex(revealed.shared), proof: toHex(revealed.proof) });
    }
  }

  // Summed now, while the points are decoded; finish only needs the sum (decoding an Ed25519 point
  // costs a subgroup check, so this saves re-decoding every dealer's commitments).
  const own = parseRound1(params, group, self, s.round1);
  const summed = sumCommitments(group, [own, ...parsed].map((m) => m.commitments));
  if (summed.some((c) => c.is0())) {
    // Only reachable if dealers cancelled each other's commitments, which the proofs of knowledge
    // and the Feldman checks make infeasible; refuse a key whose public package has no encoding.
    throw new CustosError('dkg.degenerate_key', 'the summed commitments contain the identity element', { status: 502 });
  }
  const echoes: Record<string, Echo> = Object.fromEntries(verified.map((m) => [m.from, { digest: toHex(m.digest), signature: m.signature }]));
  const broadcast: Round2Payload = { echoes, complaints };
  let ecdsa: DkgRound2State['ecdsa'];
  if (isEcdsa(params.scheme)) {
    if (!s.ecdsa) throw new CustosError('dkg.bad_state', 'ECDSA key generation state has no pairwise setup', { status: 500 });
    const setup = setupRound2(setupContext(params), s.ecdsa, parsed.map((m) => ({ from: m.from, message: m.payload.ecdsa! })), encryptionSecretKey);
    broadcast.ecdsa = setup.message;
    ecdsa = { pairs: setup.pairs };
  }
  const next: DkgRound2State = {
    version: 1,
    step: 'round2',
    params: structuredClone(params),
    round1: structuredClone(s.round1),
    ownShare: s.ownShare,
    received: Object.fromEntries(parsed.map((m) => [m.from, { payload: structuredClone(m.payload), signature: m.signature }])),
    shares: Object.fromEntries(shares),
    groupCommitments: summed.map((c) => toHex(group.encodePoint(c))),
    round2: structuredClone(broadcast),
  };
  if (ecdsa) next.ecdsa = ecdsa;
  return { state: next, broadcast };
}
