import { fromHex, toHex, wipe } from '../../common/bytes.ts';
import { eciesEncryptProvingEphemeral } from '../../crypto/ecies.ts';
import { commitPolynomial } from '../../crypto/feldman.ts';
import { evaluatePolynomial, randomPolynomial } from '../../crypto/polynomial.ts';
import { secureRng, type Rng } from '../../crypto/random.ts';
import { proveKnowledge } from '../../crypto/schnorr-pok.ts';
import { isEcdsa } from '../../common/schemes.ts';
import { setupRound1 } from '../dkls23/setup.ts';
import { checkParams, setupContext, groupOfParams, indexOf, pokContext, shareContext, shareEphemeralContext } from './params.ts';
import type { DkgParams, DkgRound1State, Round1Payload } from './types.ts';

/**
 * Round 1 of the Pedersen DKG (Pedersen 1991, with Feldman commitments and the proof of knowledge
 * of Komlo–Goldberg FROST Figure 1 / RFC 9591 Appendix C): this party deals a random polynomial
 * f_self of degree t-1. It broadcasts the commitments to f_self, a proof of knowledge of f_self(0)
 * bound to (session, self), and f_self(i) for every other party i, encrypted to i's P-256 key.
 *
 * The returned state is SECRET (it holds f_self(self)): seal it before storing. The polynomial's
 * coefficients are not kept: nothing after this round needs them.
 */
export function round1(params: DkgParams, rng: Rng = secureRng): { state: DkgRound1State; broadcast: Round1Payload } {
  checkParams(params);
  const p = structuredClone(params);
  const group = groupOfParams(p);
  const coefficients = randomPolynomial(group, p.threshold, rng);
  try {
    const commitments = commitPolynomial(group, coefficients).map((c) => toHex(group.encodePoint(c)));
    const proofOfKnowledge = toHex(proveKnowledge(group, coefficients[0], pokContext(p, p.self), rng));
    const entries: [string, string][] = [];
    const proofs: [string, string][] = [];
    for (const receiver of p.parties) {
      if (receiver === p.self) continue;
      const share = group.encodeScalar(evaluatePolynomial(group, coefficients, indexOf(p, receiver)));
      const { ciphertext, proof } = eciesEncryptProvingEphemeral(fromHex(p.encryptionKeys[receiver], `encryptionKeys.${receiver}`), share, shareContext(p, p.self, receiver), shareEphemeralContext(p, p.self, receiver), rng);
      wipe(share);
      entries.push([receiver, toHex(ciphertext)]);
      proofs.push([receiver, toHex(proof)]);
    }
    // fromEntries defines own properties, so no party id can reach a prototype.
    const shares: Record<string, string> = Object.fromEntries(entries);
    const own = group.encodeScalar(evaluatePolynomial(group, coefficients, indexOf(p, p.self)));
    const shareProofs: Record<string, string> = Object.fromEntries(proofs);
    const broadcast: Round1Payload = { commitments, proofOfKnowledge, shares, shareProofs };
    const state: DkgRound1State = { version: 1, step: 'round1', params: p, round1: broadcast, ownShare: toHex(own) };
    if (isEcdsa(p.scheme)) {
      const setup = setupRound1(setupContext(p), rng);
      broadcast.ecdsa = setup.message;
      state.ecdsa = setup.secret;
    }
    state.round1 = structuredClone(broadcast);
    wipe(own);
    return { state, broadcast };
  } finally {
    coefficients.fill(0n); // best effort: bigints are immutable, this only drops our references
  }
}
