import { toHex, wipe } from '../../common/bytes.ts';
import { CustosError, ValidationError } from '../../common/errors.ts';
import { secureRng, type Rng } from '../../crypto/random.ts';
import type { FrostCommitment } from './commitments.ts';
import type { FrostKeyShare } from './keys.ts';
import { encodeNonces } from './nonces.ts';
import { identifierAt, suiteOf } from './suite.ts';

export type Round1Output = {
  /** SECRET sealable encoding of the nonces (nonces.ts). Seal it (purpose 'frost-nonce') and wipe it. */
  nonces: Uint8Array;
  /** Public: goes to the coordinator / nonce pool. */
  commitment: FrostCommitment;
};

/**
 * RFC 9591 Section 5.1 commit(): two fresh nonces, hiding and binding, each
 * nonce_generate(secret) = H3(random_bytes(32) || SerializeScalar(secret)) (Section 4.1), and
 * their commitments. Needs no message, so nodes run it ahead of time to fill nonce pools.
 * `rng` is asked for exactly two 32-byte strings, hiding's first (the RFC vectors' order).
 * HAZARD: the returned nonces must sign at most one message.
 */
export function commit(key: FrostKeyShare, rng: Rng = secureRng): Round1Output {
  const suite = suiteOf(key.scheme);
  if (!Array.isArray(key.parties)) throw new ValidationError('parties must be an array', { code: 'frost.bad_key' });
  const index = key.parties.indexOf(key.self);
  if (index < 0) throw new ValidationError(`${JSON.stringify(key.self)} is not a party of this key`, { code: 'frost.unknown_party' });
  if (!(key.secretShare instanceof Uint8Array) || key.secretShare.length !== suite.scalarBytes) {
    throw new ValidationError(`secretShare must be ${suite.scalarBytes} bytes`, { code: 'frost.bad_key' });
  }
  let canonical = false;
  try { canonical = suite.decodeScalar(key.secretShare) !== 0n; } catch { /* reported below */ }
  if (!canonical) throw new ValidationError('secretShare is not a canonical non-zero scalar', { code: 'frost.bad_key' });
  const identifier = identifierAt(key.scheme, index);
  // The share only hedges the nonces against a weak rng (Section 4.1); the plain share serves for
  // every scheme, so round one needs neither the public package nor the bip340 tweak.
  const secret = { identifier, signingShare: key.secretShare.slice() };
  let generated: ReturnType<typeof suite.frost.commit> | undefined;
  try {
    generated = suite.frost.commit(secret, exactRng(rng));
    const { nonces, commitments } = generated;
    return {
      nonces: encodeNonces({ scheme: key.scheme, party: key.self, hiding: nonces.hiding, binding: nonces.binding }),
      commitment: { party: key.self, identifier, hiding: toHex(commitments.hiding), binding: toHex(commitments.binding) },
    };
  } finally {
    wipe(secret.signingShare, generated?.nonces.hiding, generated?.nonces.binding);
  }
}

/** Fails closed on an rng that returns fewer (or more) bytes than asked: short randomness would
 * silently weaken the nonces. */
function exactRng(rng: Rng): (n?: number) => Uint8Array<ArrayBuffer> {
  return (n = 32) => {
    const out = rng(n);
    if (!(out instanceof Uint8Array) || out.length !== n) throw new CustosError('frost.bad_rng', `rng returned ${out?.length} bytes, ${n} were asked`);
    return out as Uint8Array<ArrayBuffer>;
  };
}
