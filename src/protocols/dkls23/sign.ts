import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { fromHex, toHex } from '../../common/bytes.ts';
import { CustosError, ProtocolAbort } from '../../common/errors.ts';
import { getGroup, type GroupPoint } from '../../crypto/group.ts';
import { hashToScalar } from '../../crypto/transcript.ts';
import type { PresignShare } from './presign.ts';

/**
 * DKLs23 online signing (ePrint 2023/765, Protocol 3.6 step 4 and the combiner): one message per
 * signer. Two custos additions, both public-data adjustments that keep Σ intact:
 *
 * 1. Re-randomisation at signing time (Groth–Shoup, Eurocrypt 2022, §"re-randomized
 *    presignatures"): the presignature's R becomes R' = R + δ·G with δ = H(sid, R, derived public
 *    key, digest). Each signer turns u_i into u_i + δ·φ_i (so Σu = (r+δ)·φ) and, for a BIP32 tweak
 *    τ of the derivation path, v_i into v_i + τ·φ_i (so Σv = (sk+τ)·φ). A presignature made
 *    before the path was known can then safely sign under any derived key.
 * 2. Pairwise masks: every released value is masked with PRF(k_ij, request) for each co-signer j,
 *    added by the first of the pair and subtracted by the second, so the masks cancel in the sum.
 *    A node restored from an old backup may release a second share from an already used
 *    presignature; without the honest co-signer's k_ij (which it never uses twice) that share is
 *    uniformly masked, where an unmasked one would reveal φ_i and v_i and with them the key.
 */
const secp = getGroup('secp256k1');
const Fn = secp.Fn;
const G = secp.base;

export type SignRequest = {
  /** The 32-byte digest to sign. */
  digest: Uint8Array;
  /** Derived public key (compressed) and the additive BIP32 tweak of the path (0 for the root). */
  publicKey: Uint8Array;
  tweak: bigint;
  /** Digest of the whole request the node accepted; masks and burn records are bound to it. */
  binding: Uint8Array;
};

export type PartialSignature = { u: string; w: string };

/** δ of the re-randomisation: public, so the coordinator derives the same R'. */
export function rerandomizer(sid: string, R: string, publicKey: Uint8Array, digest: Uint8Array): bigint {
  return hashToScalar(secp, 'custos/dkls23/rerandomize/v1', [fromHex(sid), fromHex(R), publicKey, digest]);
}

/** R' = R + δ·G; refuses the (negligible) identity. */
export function signingNonce(sid: string, R: string, publicKey: Uint8Array, digest: Uint8Array): GroupPoint {
  const Rp = secp.decodePoint(fromHex(R)).add(G.multiplyUnsafe(rerandomizer(sid, R, publicKey, digest)));
  if (Rp.is0()) throw new CustosError('sign.degenerate', 'the re-randomised nonce is the identity', { status: 502 });
  return Rp;
}

function maskOf(key: Uint8Array, what: 'u' | 'w', sid: string, binding: Uint8Array): bigint {
  return hashToScalar(secp, 'custos/dkls23/mask/v1', [key, what, fromHex(sid), binding]);
}

/**
 * This party's share of the signature. `maskKeys` holds the pair key with every other quorum
 * member; `parties` gives the key order that decides who adds and who subtracts.
 */
export function partialSign(share: PresignShare, self: string, parties: readonly string[], maskKeys: Record<string, string>, req: SignRequest): PartialSignature {
  const m = digestScalar(req.digest);
  const phi = secp.decodeScalar(fromHex(share.phi));
  const delta = rerandomizer(share.sid, share.R, req.publicKey, req.digest);
  const x = xOf(signingNonce(share.sid, share.R, req.publicKey, req.digest));
  let u = Fn.add(secp.decodeScalar(fromHex(share.u)), Fn.mul(delta, phi));
  const v = Fn.add(secp.decodeScalar(fromHex(share.v)), Fn.mul(Fn.create(req.tweak), phi));
  let w = Fn.add(Fn.mul(m, phi), Fn.mul(x, v));
  const me = parties.indexOf(self);
  for (const j of share.quorum) {
    if (j === self) continue;
    const k = fromHex(maskKeys[j]);
    // The first of the pair (in key order) adds the mask, the second subtracts it.
    const combine = parties.indexOf(j) > me ? (a: bigint, b: bigint) => Fn.add(a, b) : (a: bigint, b: bigint) => Fn.sub(a, b);
    u = combine(u, maskOf(k, 'u', share.sid, req.binding));
    w = combine(w, maskOf(k, 'w', share.sid, req.binding));
  }
  return { u: toHex(secp.encodeScalar(u)), w: toHex(secp.encodeScalar(w)) };
}

export type EcdsaSignature = { signature: Uint8Array; recoveryId: 0 | 1 };

/**
 * The combiner: s = Σw / Σu, normalised to low s, with its recovery id, checked with
 * @noble/curves before it is returned. A failed check cannot name a party (DKLs23 has no
 * identifiable abort in the last round): `sign.invalid_signature`, the presignature is spent.
 */
export function combine(sid: string, R: string, publicKey: Uint8Array, digest: Uint8Array, partials: { from: string; partial: PartialSignature }[]): EcdsaSignature {
  const Rp = signingNonce(sid, R, publicKey, digest);
  let u = 0n;
  let w = 0n;
  for (const { from, partial } of partials) {
    u = Fn.add(u, scalarOf(from, partial?.u, 'u'));
    w = Fn.add(w, scalarOf(from, partial?.w, 'w'));
  }
  if (u === 0n) throw new ProtocolAbort('sign.invalid_signature', 'unidentified', 'the signature shares do not combine into a valid signature');
  const r = xOf(Rp);
  let s = Fn.div(w, u);
  const aff = Rp.toBytes();
  let recovery = (aff[0] === 0x03 ? 1 : 0) as 0 | 1;
  if (s > Fn.ORDER >> 1n) {
    s = Fn.neg(s);
    recovery = (recovery ^ 1) as 0 | 1;
  }
  const signature = new Uint8Array(64);
  signature.set(secp.encodeScalar(r), 0);
  signature.set(secp.encodeScalar(s), 32);
  if (r === 0n || s === 0n || !secp256k1.verify(signature, digest, publicKey, { prehash: false, lowS: true, format: 'compact' })) {
    throw new ProtocolAbort('sign.invalid_signature', 'unidentified', 'the signature shares do not combine into a valid signature');
  }
  return { signature, recoveryId: recovery };
}

/** ECDSA's bits2int for a 32-byte digest, reduced mod n (SEC1 4.1.3 step 5). */
export function digestScalar(digest: Uint8Array): bigint {
  if (digest.length !== 32) throw new CustosError('sign.bad_digest', 'the digest must be 32 bytes', { status: 400 });
  return Fn.create(bytesToNumberBE(digest));
}

function xOf(P: GroupPoint): bigint {
  const x = bytesToNumberBE(P.toBytes().subarray(1, 33));
  // x ≥ n happens with probability ~2^-128; the recovery id would then need bit 1, which the API
  // cannot express, so such a nonce is refused rather than reported wrongly.
  if (x >= Fn.ORDER) throw new CustosError('sign.degenerate', 'the nonce x-coordinate exceeds the group order', { status: 502 });
  return x;
}

function scalarOf(from: string, hex: unknown, field: string): bigint {
  try {
    if (typeof hex !== 'string') throw new Error();
    return secp.decodeScalar(fromHex(hex, field, 32), field);
  } catch {
    throw new ProtocolAbort('sign.bad_share', from, `${from}'s signature share ${field} is not a canonical scalar`);
  }
}
