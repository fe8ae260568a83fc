/**
 * Pedersen DKG with Feldman commitments and proofs of knowledge (RFC 9591 Appendix C;
 * Komlo–Goldberg, FROST, SAC 2020, Figure 1), sans-IO, with encrypted shares, an echo round that
 * catches equivocation, and complaints that name the cheater. Three calls per party:
 *   round1(params)                       -> state, Round1Payload   (broadcast as 'dkg/1')
 *   round2(state, dkg/1 inbound, sk, auth) -> state, Round2Payload (broadcast as 'dkg/2')
 *   finish(state, dkg/2 inbound, auth)     -> DkgResult
 * States are SECRET between rounds: serializeState, seal, store; unseal, parseState.
 */
export { round1 } from './round1.ts';
export { round2 } from './round2.ts';
export { finish } from './finish.ts';
export { parseState, serializeState } from './state.ts';
export { checkParams } from './params.ts';
export type { Complaint, DkgParams, DkgResult, DkgRound1State, DkgRound2State, DkgState, Echo, Round1Payload, Round2Payload } from './types.ts';
