import type { FrostPublic, FrostSecret } from '@noble/curves/abstract/frost.js';
import { fromHex } from '../../common/bytes.ts';
import { ValidationError } from '../../common/errors.ts';
import { MIN_THRESHOLD, type Scheme } from '../../common/schemes.ts';
import { identifierAt, suiteOf, type GroupPoint, type Suite } from './suite.ts';
import { tweakPublic, tweakSecret } from './taproot.ts';

/**
 * The public package of a threshold key: what every party and the coordinator hold. It is the
 * public part of a DkgResult (src/protocols/dkg/types.ts), so a DkgResult, or the key's stored
 * public JSON, can be passed as is. `parties` is ordered: party i has FROST identifier i+1.
 * Points are hex SerializeElement (RFC 9591 Section 6): 32 bytes Ed25519, 33 bytes compressed
 * secp256k1; for bip340 they are UNtweaked (the BIP86 tweak is applied on import).
 */
export type FrostKeyPublic = {
  scheme: Scheme;
  threshold: number;
  parties: string[];
  /** Feldman commitments of the shared polynomial; [0] is the (untweaked) group public key. */
  groupCommitments: string[];
  /** Public key of each party's signing share, by party id. */
  verifyingShares: Record<string, string>;
};

/** One party's key: the public package, who it is, and its signing share (32-byte scalar,
 * SerializeScalar). SECRET: the caller unseals it for one call and wipes it afterwards. */
export type FrostKeyShare = FrostKeyPublic & {
  self: string;
  secretShare: Uint8Array;
};

/** A key imported into noble's form, with the lookups the rounds need. Shared and cached:
 * treat as read-only. */
export type ImportedPublic = {
  suite: Suite;
  threshold: number;
  /** noble's package (BIP86-tweaked for bip340). */
  pub: FrostPublic;
  /** Untweaked group public key, SerializeElement. */
  groupKey: Uint8Array;
  identifierOf(party: string): string;
  /** Untweaked verifying share of `party`. */
  verifyingShareOf(party: string): GroupPoint;
};

const bad = (message: string, field: string) => new ValidationError(message, { code: 'frost.bad_key', detail: { field } });

/**
 * Checks a key's public package and converts it to noble's FrostPublic. Every point must be a
 * canonical group element (RFC 9591 Section 3.1), and every verifying share must equal the Feldman
 * evaluation of the commitments at its party's identifier (RFC 9591 Appendix C.2 vss_verify, on
 * the public side), so a party can never be blamed for a share the key itself contradicts.
 */
export function importPublic(key: FrostKeyPublic): ImportedPublic {
  if (typeof key !== 'object' || key === null) throw bad('key must be an object', 'key');
  // Validation is a pure function of public content and costs a torsion check per Ed25519 point,
  // so results are memoised by content (keys arrive re-parsed from storage on every call).
  let cacheKey: string | undefined;
  try {
    cacheKey = JSON.stringify([key.scheme, key.threshold, key.parties, key.groupCommitments, key.verifyingShares]);
  } catch { /* not serialisable: validated below, not cached */ }
  const hit = cacheKey === undefined ? undefined : CACHE.get(cacheKey);
  if (hit) return hit;
  const imported = validate(key);
  if (cacheKey !== undefined) {
    if (CACHE.size >= CACHE_SIZE) CACHE.delete(CACHE.keys().next().value!);
    CACHE.set(cacheKey, imported);
  }
  return imported;
}

const CACHE_SIZE = 256;
const CACHE = new Map<string, ImportedPublic>();

function validate(key: FrostKeyPublic): ImportedPublic {
  const suite = suiteOf(key.scheme);
  const { parties, threshold } = key;
  if (!Array.isArray(parties) || parties.some((p) => typeof p !== 'string' || p.length === 0)) throw bad('parties must be non-empty strings', 'parties');
  if (new Set(parties).size !== parties.length) throw bad('parties must be distinct', 'parties');
  if (!Number.isSafeInteger(threshold) || threshold < MIN_THRESHOLD || threshold > parties.length) {
    throw bad(`threshold must be an integer in ${MIN_THRESHOLD}..${parties.length}`, 'threshold');
  }
  if (!Array.isArray(key.groupCommitments) || key.groupCommitments.length !== threshold) {
    throw bad(`groupCommitments must hold threshold (${threshold}) points`, 'groupCommitments');
  }
  const commitmentPoints = key.groupCommitments.map((c, i) => decodePointHex(suite, c, `groupCommitments[${i}]`));
  const vs = key.verifyingShares;
  if (typeof vs !== 'object' || vs === null || Object.keys(vs).length !== parties.length || parties.some((p) => !Object.hasOwn(vs, p))) {
    throw bad('verifyingShares must hold exactly one point per party', 'verifyingShares');
  }
  const ids = new Map<string, string>();
  const yByParty = new Map<string, GroupPoint>();
  const verifyingShares: Record<string, Uint8Array<ArrayBuffer>> = {};
  parties.forEach((party, i) => {
    const id = identifierAt(key.scheme, i);
    ids.set(party, id);
    const y = decodePointHex(suite, vs[party], `verifyingShares.${party}`);
    if (!y.equals(evaluate(commitmentPoints, BigInt(i + 1)))) {
      throw bad(`verifying share of ${party} does not match the group commitments`, `verifyingShares.${party}`);
    }
    verifyingShares[id] = y.toBytes();
    yByParty.set(party, y);
  });
  const groupKey = commitmentPoints[0].toBytes();
  let pub: FrostPublic = {
    signers: { min: threshold, max: parties.length },
    commitments: commitmentPoints.map((p) => p.toBytes()),
    verifyingShares,
  };
  if (key.scheme === 'bip340') pub = tweakPublic(pub);
  const unknown = (party: string) => new ValidationError(`${JSON.stringify(party)} is not a party of this key`, { code: 'frost.unknown_party', detail: { party: String(party) } });
  return Object.freeze({
    suite,
    threshold,
    pub,
    groupKey,
    identifierOf(party: string) {
      const id = ids.get(party);
      if (id === undefined) throw unknown(party);
      return id;
    },
    verifyingShareOf(party: string) {
      const y = yByParty.get(party);
      if (y === undefined) throw unknown(party);
      return y;
    },
  });
}

/**
 * This party's signing share in noble's form (BIP86-tweaked for bip340), after checking that it is
 * the share the public package commits to (its verifying share). The returned signingShare is a
 * fresh copy: the caller wipes it after use.
 */
export function importSecret(imported: ImportedPublic, key: FrostKeyShare): FrostSecret {
  const { suite } = imported;
  const identifier = imported.identifierOf(key.self);
  if (!(key.secretShare instanceof Uint8Array) || key.secretShare.length !== suite.scalarBytes) {
    throw bad(`secretShare must be ${suite.scalarBytes} bytes`, 'secretShare');
  }
  let s: bigint;
  try {
    s = suite.decodeScalar(key.secretShare);
  } catch {
    throw bad('secretShare is not a canonical scalar', 'secretShare');
  }
  const expected = imported.verifyingShareOf(key.self);
  if (s === 0n || !suite.base.multiply(s).equals(expected)) {
    // Message names no value: this is about a secret.
    throw bad(`secretShare of ${key.self} does not match its verifying share`, 'secretShare');
  }
  const secret: FrostSecret = { identifier, signingShare: key.secretShare.slice() };
  if (key.scheme !== 'bip340') return secret;
  const tweaked = tweakSecret(secret, imported.groupKey);
  secret.signingShare.fill(0);
  return tweaked;
}

export function decodePointHex(suite: Suite, hex: unknown, field: string): GroupPoint {
  const bytes = fromHex(hex as string, field, suite.pointBytes);
  try {
    return suite.decodePoint(bytes);
  } catch {
    throw new ValidationError(`${field} is not a valid ${suite.scheme} group element`, { code: 'frost.bad_point', detail: { field } });
  }
}

/** Σ C_j · x^j by Horner's rule; x is a small public identifier, so this is cheap and vartime-safe. */
function evaluate(commitments: GroupPoint[], x: bigint): GroupPoint {
  let acc = commitments[commitments.length - 1];
  for (let j = commitments.length - 2; j >= 0; j--) acc = acc.multiplyUnsafe(x).add(commitments[j]);
  return acc;
}

