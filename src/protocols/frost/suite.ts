import type { FROST } from '@noble/curves/abstract/frost.js';
import { ed25519, ed25519_FROST } from '@noble/curves/ed25519.js';
import { schnorr_FROST, secp256k1, secp256k1_FROST } from '@noble/curves/secp256k1.js';
import { ValidationError } from '../../common/errors.ts';
import { isScheme, type Scheme } from '../../common/schemes.ts';

/** The few point operations the FROST layer needs from either group. */
export interface GroupPoint {
  add(other: GroupPoint): GroupPoint;
  /** Constant-time: for secret scalars. */
  multiply(scalar: bigint): GroupPoint;
  multiplyUnsafe(scalar: bigint): GroupPoint;
  equals(other: GroupPoint): boolean;
  toBytes(): Uint8Array<ArrayBuffer>;
}

/**
 * One FROST ciphersuite (RFC 9591 Section 6) as custos uses it: noble's implementation plus the
 * sizes and strict decoders our validation needs.
 *   frost-ed25519   -> FROST(Ed25519, SHA-512), RFC 9591 Section 6.1
 *   frost-secp256k1 -> FROST(secp256k1, SHA-256), RFC 9591 Section 6.5
 *   bip340          -> noble's FROST-secp256k1-SHA256-TR-v1 (BIP340 challenge, even-Y handling)
 */
export type Suite = {
  scheme: Scheme;
  frost: FROST;
  /** SerializeElement length: 32 (Ed25519) or 33 (compressed SEC1). */
  pointBytes: number;
  scalarBytes: 32;
  order: bigint;
  base: GroupPoint;
  /** RFC 9591 Section 3.1 DeserializeElement: canonical encoding, on the curve, not the identity,
   * in the prime-order subgroup. Throws a plain Error otherwise. */
  decodePoint(bytes: Uint8Array): GroupPoint;
  /** RFC 9591 Section 3.1 DeserializeScalar: canonical, < order. Throws a plain Error otherwise. */
  decodeScalar(bytes: Uint8Array): bigint;
};

function decodeEd25519(bytes: Uint8Array): GroupPoint {
  // zip215=false: RFC 8032 strict decoding; re-encoding must give the same bytes (canonical).
  const p = ed25519.Point.fromBytes(bytes, false);
  p.assertValidity();
  if (p.is0() || !p.isTorsionFree() || !equal(p.toBytes(), bytes)) throw new Error('not a canonical prime-order Ed25519 element');
  return asGroupPoint(p);
}

function decodeSecp256k1(bytes: Uint8Array): GroupPoint {
  if (bytes.length !== 33) throw new Error('expected a 33-byte compressed secp256k1 point');
  const p = secp256k1.Point.fromBytes(bytes);
  p.assertValidity();
  if (p.is0()) throw new Error('identity element');
  return asGroupPoint(p);
}

/** noble types `add` as taking its own point class; within one suite only same-class points meet. */
function asGroupPoint(p: object): GroupPoint {
  return p as GroupPoint;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function build(scheme: Scheme): Suite {
  const frost = scheme === 'frost-ed25519' ? ed25519_FROST : scheme === 'frost-secp256k1' ? secp256k1_FROST : schnorr_FROST;
  const Fn = frost.utils.Fn;
  const ed = scheme === 'frost-ed25519';
  return Object.freeze({
    scheme,
    frost,
    pointBytes: ed ? 32 : 33,
    scalarBytes: 32,
    order: Fn.ORDER,
    base: asGroupPoint(ed ? ed25519.Point.BASE : secp256k1.Point.BASE),
    decodePoint: ed ? decodeEd25519 : decodeSecp256k1,
    decodeScalar: (bytes: Uint8Array) => {
      if (bytes.length !== 32) throw new Error('expected a 32-byte scalar');
      return Fn.fromBytes(bytes);
    },
  });
}

const SUITES = new Map<Scheme, Suite>();

export function suiteOf(scheme: Scheme): Suite {
  if (!isScheme(scheme) || scheme === 'ecdsa-secp256k1') throw new ValidationError(`${JSON.stringify(scheme)} is not a FROST scheme`, { code: 'frost.bad_scheme' });
  let s = SUITES.get(scheme);
  if (!s) { s = build(scheme); SUITES.set(scheme, s); }
  return s;
}

/** FROST identifier of the party at 0-based position `index` of the key's ordered party list:
 * the scalar index+1, serialised as noble does (hex of SerializeScalar: little-endian for
 * Ed25519, big-endian for secp256k1). */
export function identifierAt(scheme: Scheme, index: number): string {
  return suiteOf(scheme).frost.Identifier.fromNumber(index + 1);
}
