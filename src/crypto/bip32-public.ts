import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { hmac } from '@noble/hashes/hmac.js';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { HARDENED_OFFSET, HDKey } from '@scure/bip32';
import { concatBytes, u32be } from '../common/bytes.ts';
import { CustosError, ValidationError } from '../common/errors.ts';

/**
 * BIP32 public derivation (CKDpub, BIP32 "Public parent key -> public child key") for keys that
 * have no private key anywhere: threshold secp256k1 keys. Besides the child public key it returns
 * the additive tweak, the sum of the I_L values along the path (mod n), which every signer node
 * adds to its share so that the shares of the child key are shares of (x + tweak).
 * Hazard: the tweak is public; only non-hardened steps exist here, so anyone holding the xpub and
 * one child private key learns the parent private key (BIP32 "Security"). Keep child keys shared.
 */

const Point = secp256k1.Point;
const Fn = Point.Fn;
/** BIP32 serialises at most depth 255 (one byte). */
export const MAX_DEPTH = 255;

/** A BIP32 node known only by its public half, with the serialisation metadata of an xpub. */
export type ExtendedPublicKey = {
  /** 33-byte compressed SEC1 point (serP). */
  publicKey: Uint8Array;
  /** 32 bytes. */
  chainCode: Uint8Array;
  depth: number;
  /** First 4 bytes of HASH160(serP(parent)) as a big-endian uint32; 0 at depth 0. */
  parentFingerprint: number;
  /** Index of the last step (ser32); 0 at depth 0. */
  index: number;
};

/** A derived child, with the scalar that maps the parent's key to the child's: child = parent + tweak·G. */
export type DerivedPublicKey = ExtendedPublicKey & {
  /** Sum of the I_L of every step, mod n. Public. */
  tweak: bigint;
};

/** The parent of a derivation: the metadata defaults to a master node (depth 0). */
export type DerivationParent = {
  publicKey: Uint8Array;
  chainCode: Uint8Array;
  depth?: number;
  parentFingerprint?: number;
  index?: number;
};

const badPath = (segment: string, why: string) =>
  new ValidationError(`derivation path segment ${JSON.stringify(segment.slice(0, 24))} ${why}`, {
    code: 'derivation.bad_path',
    detail: { segment: segment.slice(0, 24) },
  });
const hardened = (segment: string) =>
  new ValidationError(`derivation path segment ${JSON.stringify(segment.slice(0, 24))} is hardened; threshold keys derive only non-hardened children (BIP32 CKDpub)`, {
    code: 'derivation.hardened',
    detail: { segment: segment.slice(0, 24) },
  });
const badKey = (field: string, why: string) =>
  new ValidationError(`${field} ${why}`, { code: 'derivation.bad_key', detail: { field } });

/**
 * Parses "m" or "m/i/j/…" with decimal indices 0 <= i < 2^31 (BIP32 path notation, non-hardened only).
 * Indices are canonical decimal (no sign, no leading zeros) so that one path has one spelling.
 * Throws ValidationError `derivation.hardened` for "i'", "ih", "iH" or i >= 2^31, and
 * `derivation.bad_path` for anything else that is not such a path, or deeper than 255.
 */
export function parseDerivationPath(path: string): number[] {
  if (typeof path !== 'string') throw badPath(String(path), 'is not a string');
  if (path === 'm') return [];
  if (!path.startsWith('m/')) throw badPath(path.split('/')[0] ?? path, 'is not "m": a path starts with "m"');
  const segments = path.slice(2).split('/');
  if (segments.length > MAX_DEPTH) throw badPath(segments[MAX_DEPTH], `is beyond the maximum depth ${MAX_DEPTH}`);
  return segments.map((seg) => {
    const m = /^(0|[1-9][0-9]{0,9})(['hH]?)$/.exec(seg);
    if (!m) throw badPath(seg, 'is not a decimal index');
    const n = Number(m[1]);
    if (n >= 2 ** 32) throw badPath(seg, 'is not below 2^32');
    if (m[2] !== '' || n >= HARDENED_OFFSET) throw hardened(seg);
    return n;
  });
}

/** BIP32 fingerprint: first 32 bits of HASH160(serP(K)). */
function fingerprintOf(serP: Uint8Array): number {
  const h = ripemd160(sha256(serP));
  return new DataView(h.buffer, h.byteOffset, 4).getUint32(0, false);
}

/**
 * One CKDpub step from I = HMAC-SHA512(c_par, serP(K_par) || ser32(i)). Exported for tests only
 * (the invalid cases cannot be reached through HMAC); not API.
 * BIP32 says to proceed with the next index when I_L >= n or the child is the point at infinity;
 * custos refuses instead, so a path always names the key it derives (`derivation.invalid_child`).
 */
export function childFromHmac(parent: InstanceType<typeof Point>, index: number, I: Uint8Array): { point: InstanceType<typeof Point>; chainCode: Uint8Array; il: bigint } {
  if (I.length !== 64) throw new Error('I must be 64 bytes');
  const il = bytesToNumberBE(I.subarray(0, 32));
  const invalid = (why: string) =>
    new CustosError('derivation.invalid_child', `BIP32 child ${index} is invalid (${why}); BIP32 would skip to index ${index + 1}, custos refuses: use another index`, {
      status: 422,
      detail: { index },
    });
  if (il >= Fn.ORDER) throw invalid('I_L >= n');
  // I_L and the parent are public: variable-time arithmetic is fine here.
  const point = parent.add(Point.BASE.multiplyUnsafe(il));
  if (point.is0()) throw invalid('child point at infinity');
  return { point, chainCode: I.slice(32), il };
}

function checkIndex(i: unknown): number {
  if (typeof i !== 'number' || !Number.isSafeInteger(i) || i < 0 || i >= 2 ** 32) throw badPath(String(i), 'is not an index in 0..2^31-1');
  if (i >= HARDENED_OFFSET) throw hardened(String(i));
  return i;
}

function checkU32(v: number | undefined, field: string): number {
  if (v === undefined) return 0;
  if (!Number.isSafeInteger(v) || v < 0 || v >= 2 ** 32) throw badKey(field, 'must be an integer in 0..2^32-1');
  return v;
}

/**
 * CKDpub along `path` (BIP32 "Public parent key -> public child key", applied step by step).
 * Returns the child xpub fields and the tweak t with K_child = K_parent + t·G, so that a share
 * x_i of the parent key becomes x_i + t (additive tweak: each party adds t to its additive share,
 * or to its Shamir share, since Lagrange coefficients sum to 1).
 * Throws `derivation.hardened` / `derivation.bad_path` for a bad path, `derivation.bad_key` for a
 * bad parent, `derivation.invalid_child` where BIP32 would skip an index.
 */
export function deriveNonHardened(parent: DerivationParent, path: readonly number[]): DerivedPublicKey {
  const { publicKey, chainCode } = parent;
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 33) throw badKey('publicKey', 'must be a 33-byte compressed point');
  if (!(chainCode instanceof Uint8Array) || chainCode.length !== 32) throw badKey('chainCode', 'must be 32 bytes');
  const depth = parent.depth ?? 0;
  if (!Number.isSafeInteger(depth) || depth < 0 || depth > MAX_DEPTH) throw badKey('depth', `must be an integer in 0..${MAX_DEPTH}`);
  let parentFingerprint = checkU32(parent.parentFingerprint, 'parentFingerprint');
  let index = checkU32(parent.index, 'index');
  if (!Array.isArray(path)) throw badPath(String(path), 'is not a list of indices');
  const steps = path.map(checkIndex);
  if (depth + steps.length > MAX_DEPTH) throw badPath(String(steps[MAX_DEPTH - depth]), `is beyond the maximum depth ${MAX_DEPTH}`);

  let K;
  try {
    K = Point.fromBytes(publicKey);
    K.assertValidity();
  } catch {
    throw badKey('publicKey', 'is not a valid compressed secp256k1 point');
  }
  let c: Uint8Array = Uint8Array.from(chainCode);
  let tweak = 0n;
  for (const i of steps) {
    const serP = K.toBytes(true);
    const step = childFromHmac(K, i, hmac(sha512, c, concatBytes(serP, u32be(i))));
    parentFingerprint = fingerprintOf(serP);
    index = i;
    K = step.point;
    c = step.chainCode;
    tweak = Fn.add(tweak, step.il);
  }
  return { publicKey: K.toBytes(true), chainCode: c, tweak, depth: depth + steps.length, parentFingerprint, index };
}

/** Base58Check xpub (BIP32 "Serialization format", mainnet public version 0x0488B21E), via @scure/bip32. */
export function xpubOf(publicKey: Uint8Array, chainCode: Uint8Array, meta: { depth: number; parentFingerprint: number; index: number } = { depth: 0, parentFingerprint: 0, index: 0 }): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 33) throw badKey('publicKey', 'must be a 33-byte compressed point');
  if (!(chainCode instanceof Uint8Array) || chainCode.length !== 32) throw badKey('chainCode', 'must be 32 bytes');
  try {
    return new HDKey({ publicKey, chainCode, depth: meta.depth, index: meta.index, parentFingerprint: meta.parentFingerprint }).publicExtendedKey;
  } catch (e) {
    // scure's messages carry no key material, only what was out of range.
    throw new ValidationError(`cannot serialise extended public key: ${e instanceof Error ? e.message.slice(0, 120) : 'invalid'}`, { code: 'derivation.bad_key' });
  }
}

/**
 * Decodes a mainnet xpub (BIP32 "Serialization format") via @scure/bip32. Refuses an xprv with
 * `derivation.private_key` (custos holds no whole private keys, and will not parse one silently),
 * anything else invalid with `derivation.bad_xpub`. Messages never echo the input: it may be secret.
 */
export function publicFromXpub(xpub: string): ExtendedPublicKey {
  if (typeof xpub !== 'string') throw new ValidationError('xpub must be a string', { code: 'derivation.bad_xpub' });
  let key: HDKey;
  try {
    key = HDKey.fromExtendedKey(xpub);
  } catch {
    throw new ValidationError('not a valid BIP32 mainnet extended public key', { code: 'derivation.bad_xpub' });
  }
  if (key.privateKey !== null) {
    key.wipePrivateData();
    throw new ValidationError('an extended private key was given where an xpub is expected; only public keys are accepted', { code: 'derivation.private_key' });
  }
  const { publicKey, chainCode } = key;
  if (publicKey === null || chainCode === null) throw new ValidationError('not a valid BIP32 mainnet extended public key', { code: 'derivation.bad_xpub' });
  return { publicKey: Uint8Array.from(publicKey), chainCode: Uint8Array.from(chainCode), depth: key.depth, parentFingerprint: key.parentFingerprint, index: key.index };
}
