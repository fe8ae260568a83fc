/**
 * FROST signing (RFC 9591) for custos keys: sans-IO, pure functions over serialisable values.
 *   node:        commit (round one, ahead of time) -> seal nonces -> ... -> signShare (round two)
 *   coordinator: verifyShare / aggregate -> verifySignature
 * Ciphersuites: frost-ed25519, frost-secp256k1, and bip340 (BIP340/BIP86 Taproot on secp256k1).
 */
export type { FrostKeyPublic, FrostKeyShare } from './keys.ts';
export type { FrostCommitment, FrostCommitmentInput } from './commitments.ts';
export type { FrostPublicKeyReport } from './public-key.ts';
export type { Round1Output } from './round1.ts';
export { publicKeyReport } from './public-key.ts';
export { identifierAt } from './suite.ts';
export { commit } from './round1.ts';
export { commitmentIsValid } from './commitments.ts';
export { signShare } from './round2.ts';
export { aggregate, verifyShare } from './aggregate.ts';
export { verifySignature } from './verify.ts';
