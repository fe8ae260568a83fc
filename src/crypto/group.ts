import type { IField } from '@noble/curves/abstract/modular.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { equalBytes } from '../common/bytes.ts';
import { ValidationError } from '../common/errors.ts';
import { secureRng, type Rng } from './random.ts';

/** The prime-order groups custos computes in. ed25519 and secp256k1 carry key shares (see
 * `groupOf` in common/schemes.ts); p256 carries node encryption keys (ECIES, DLEQ). */
export type GroupName = 'ed25519' | 'secp256k1' | 'p256';

/** The point operations the crypto layer needs, common to noble's point classes. */
export interface GroupPoint {
  add(other: GroupPoint): GroupPoint;
  subtract(other: GroupPoint): GroupPoint;
  negate(): GroupPoint;
  /** Constant-time: for secret scalars (1 <= s < order). */
  multiply(scalar: bigint): GroupPoint;
  /** Variable-time, accepts 0: for public scalars only. */
  multiplyUnsafe(scalar: bigint): GroupPoint;
  equals(other: GroupPoint): boolean;
  is0(): boolean;
  toBytes(): Uint8Array;
}

/**
 * A prime-order group with canonical encodings as RFC 9591 Section 3.1 defines them
 * (SerializeScalar / DeserializeScalar, SerializeElement / DeserializeElement):
 *   ed25519    scalars 32 bytes little-endian, points 32 bytes (RFC 9591 Section 6.1)
 *   secp256k1  scalars 32 bytes big-endian,    points 33 bytes compressed SEC1 (Section 6.5)
 *   p256       scalars 32 bytes big-endian,    points 33 bytes compressed SEC1 (Section 6.4)
 */
export type Group = {
  readonly name: GroupName;
  readonly order: bigint;
  /** Scalar field arithmetic mod `order` (noble's Field). */
  readonly Fn: IField<bigint>;
  readonly scalarBytes: 32;
  readonly pointBytes: number;
  readonly base: GroupPoint;
  readonly zero: GroupPoint;
  /** SerializeScalar. The scalar must already be reduced. */
  encodeScalar(s: bigint): Uint8Array;
  /** DeserializeScalar: exactly 32 bytes, < order (0 allowed). Throws ValidationError `crypto.bad_scalar`. */
  decodeScalar(bytes: Uint8Array, field?: string): bigint;
  /** SerializeElement. Throws ValidationError `crypto.bad_point` for the identity, which has no encoding. */
  encodePoint(p: GroupPoint): Uint8Array;
  /** DeserializeElement: canonical, on the curve, not the identity, in the prime-order subgroup.
   * Throws ValidationError `crypto.bad_point`. */
  decodePoint(bytes: Uint8Array, field?: string): GroupPoint;
  /** Uniform scalar in [1, order-1]. */
  randomScalar(rng?: Rng): bigint;
};

const badPoint = (name: GroupName, field: string) =>
  new ValidationError(`${field} is not a valid ${name} group element`, { code: 'crypto.bad_point', detail: { field } });
const badScalar = (name: GroupName, field: string) =>
  new ValidationError(`${field} is not a canonical ${name} scalar`, { code: 'crypto.bad_scalar', detail: { field } });

/** noble types `add` as taking its own class; within one group only same-class points meet. */
const asGroupPoint = (p: object): GroupPoint => p as GroupPoint;

type NobleStatic = {
  BASE: object;
  ZERO: object;
  Fn: IField<bigint>;
  fromBytes(bytes: Uint8Array): GroupPoint & { assertValidity(): void; isTorsionFree(): boolean };
};

function build(name: GroupName, P: NobleStatic, pointBytes: number, cofactored: boolean): Group {
  const Fn = P.Fn;
  const order = Fn.ORDER;
  return Object.freeze({
    name,
    order,
    Fn,
    scalarBytes: 32 as const,
    pointBytes,
    base: asGroupPoint(P.BASE),
    zero: asGroupPoint(P.ZERO),
    encodeScalar(s: bigint): Uint8Array {
      if (typeof s !== 'bigint' || s < 0n || s >= order) throw new ValidationError(`scalar out of range for ${name}`, { code: 'crypto.bad_scalar' });
      return Fn.toBytes(s);
    },
    decodeScalar(bytes: Uint8Array, field = 'scalar'): bigint {
      if (!(bytes instanceof Uint8Array) || bytes.length !== 32) throw badScalar(name, field);
      try {
        return Fn.fromBytes(bytes);
      } catch {
        throw badScalar(name, field);
      }
    },
    encodePoint(p: GroupPoint): Uint8Array {
      if (p.is0()) throw badPoint(name, 'point (identity)');
      return p.toBytes();
    },
    decodePoint(bytes: Uint8Array, field = 'point'): GroupPoint {
      if (!(bytes instanceof Uint8Array) || bytes.length !== pointBytes) throw badPoint(name, field);
      let p;
      try {
        // ed25519: noble's fromBytes is RFC 8032 strict (zip215 off by default); SEC1: 0x02/0x03 prefix.
        p = P.fromBytes(bytes);
        p.assertValidity();
      } catch {
        throw badPoint(name, field);
      }
      // Re-encoding must give the same bytes (rejects non-canonical ed25519 y >= p); small-order
      // and mixed-order ed25519 points are refused, as RFC 9591 Section 6.1 DeserializeElement does.
      if (p.is0() || (cofactored && !p.isTorsionFree()) || !equalBytes(p.toBytes(), bytes)) throw badPoint(name, field);
      return p;
    },
    randomScalar(rng: Rng = secureRng): bigint {
      // 64 bytes reduced mod (order-1), plus 1: statistically uniform in [1, order-1] (bias < 2^-250).
      const wide = rng(64);
      if (!(wide instanceof Uint8Array) || wide.length !== 64) throw new Error('rng returned the wrong number of bytes');
      const s = (bytesToNumberBE(wide) % (order - 1n)) + 1n;
      wide.fill(0);
      return s;
    },
  });
}

const GROUPS: Record<GroupName, Group> = {
  ed25519: build('ed25519', ed25519.Point as unknown as NobleStatic, 32, true),
  secp256k1: build('secp256k1', secp256k1.Point as unknown as NobleStatic, 33, false),
  p256: build('p256', p256.Point as unknown as NobleStatic, 33, false),
};

export function getGroup(name: GroupName): Group {
  const g = Object.hasOwn(GROUPS, name) ? GROUPS[name] : undefined;
  if (!g) throw new ValidationError(`unknown group ${JSON.stringify(name)}`, { code: 'crypto.bad_group' });
  return g;
}
