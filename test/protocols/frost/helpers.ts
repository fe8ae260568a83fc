import type { DealerShares, FROST } from '@noble/curves/abstract/frost.js';
import { ed25519, ed25519_FROST } from '@noble/curves/ed25519.js';
import { schnorr, schnorr_FROST, secp256k1_FROST } from '@noble/curves/secp256k1.js';
import { fromHex, toHex } from '../../../src/common/bytes.ts';
import type { Scheme } from '../../../src/common/schemes.ts';
import type { Rng } from '../../../src/crypto/random.ts';
import type { DkgResult } from '../../../src/protocols/dkg/types.ts';
import { aggregate, commit, signShare, type FrostCommitment } from '../../../src/protocols/frost/index.ts';

/** Independent check of a final signature with the verifier its consumers use. */
export function consumerVerifies(scheme: Scheme, publicKey: string, message: Uint8Array, signature: string): boolean {
  const sig = fromHex(signature);
  const pk = fromHex(publicKey);
  if (scheme === 'frost-ed25519') return ed25519.verify(sig, message, pk, { zip215: false });
  if (scheme === 'bip340') return schnorr.verify(sig, message, pk);
  return secp256k1_FROST.verify(sig, message, pk);
}

export function nobleSuite(scheme: Scheme): FROST {
  return scheme === 'frost-ed25519' ? ed25519_FROST : scheme === 'frost-secp256k1' ? secp256k1_FROST : schnorr_FROST;
}

import { seededRng } from '../../crypto/rng.ts';
export { seededRng };

/** An rng that yields exactly the given hex strings, in order, and fails on anything else. */
export function scriptedRng(values: string[]): Rng & { remaining(): number } {
  const queue = [...values];
  const rng = (n: number) => {
    const next = queue.shift();
    if (next === undefined) throw new Error('scripted rng exhausted');
    const b = new Uint8Array(Buffer.from(next, 'hex'));
    if (b.length !== n) throw new Error(`scripted rng asked for ${n} bytes, has ${b.length}`);
    return b;
  };
  return Object.assign(rng, { remaining: () => queue.length });
}

/**
 * DkgResult-shaped keys for `parties` (party i gets identifier i+1, as our DKG assigns them)
 * from a noble trusted dealer. For bip340 the dealer output is untweaked, as our DKG's is.
 */
export function dealKeys(scheme: Scheme, threshold: number, parties: string[], opts: { secret?: Uint8Array; rng?: Rng } = {}): { deal: DealerShares; keys: Record<string, DkgResult> } {
  const suite = nobleSuite(scheme);
  const ids = parties.map((_, i) => suite.Identifier.fromNumber(i + 1));
  const rng = opts.rng ?? seededRng(`deal/${scheme}/${threshold}/${parties.join(',')}`);
  const deal = suite.trustedDealer({ min: threshold, max: parties.length }, ids, opts.secret, (n = 32) => rng(n) as Uint8Array<ArrayBuffer>);
  const groupCommitments = deal.public.commitments.map((c) => toHex(c));
  const verifyingShares = Object.fromEntries(parties.map((p, i) => [p, toHex(deal.public.verifyingShares[ids[i]])]));
  const keys = Object.fromEntries(parties.map((self, i) => [self, {
    version: 1 as const, scheme, sessionId: 'test-session', threshold, parties, self, index: i + 1,
    groupCommitments, verifyingShares, transcriptHash: '00'.repeat(32),
    secretShare: deal.secretShares[ids[i]].signingShare.slice(),
  } satisfies DkgResult]));
  return { deal, keys };
}

/** Both rounds and aggregation for `signers`, straight through (no sealing). */
export function signWith(keys: Record<string, DkgResult>, signers: string[], message: Uint8Array, rng?: Rng): { signature: string; commitments: FrostCommitment[]; shares: Record<string, string> } {
  const r1 = signers.map((p) => commit(keys[p], rng));
  const commitments = r1.map((r) => r.commitment);
  const shares = Object.fromEntries(signers.map((p, i) => [p, signShare(keys[p], r1[i].nonces, commitments, message)]));
  const pub = keys[signers[0]];
  return { signature: aggregate(pub, commitments, message, shares), commitments, shares };
}
