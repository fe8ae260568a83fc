import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { concatBytes, u32be, utf8 } from '../common/bytes.ts';
import type { Group } from './group.ts';

/** One transcript element: bytes as is, strings as UTF-8, numbers as 4-byte big-endian. */
export type TranscriptPart = Uint8Array | string | number;

/**
 * Injective transcript encoding: the domain tag and then every part, each preceded by its
 * 4-byte big-endian length. Two different (tag, parts) sequences never give the same bytes, so a
 * hash over it cannot be confused across fields (the TSSHOCK lesson). Every tag names one fixed
 * schema (`custos/<what>/v<n>`); callers never reuse a tag for a different list of fields.
 */
export function transcriptBytes(tag: string, parts: readonly TranscriptPart[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const push = (b: Uint8Array) => { chunks.push(u32be(b.length), b); };
  push(utf8(tag));
  for (const p of parts) {
    if (p instanceof Uint8Array) push(p);
    else if (typeof p === 'string') push(utf8(p));
    else if (typeof p === 'number' && Number.isInteger(p) && p >= 0 && p <= 0xffffffff) push(u32be(p));
    else throw new TypeError('transcript parts must be bytes, strings or u32 integers');
  }
  return concatBytes(...chunks);
}

/** SHA-256 of the transcript: a 32-byte domain-separated digest. */
export function transcriptHash(tag: string, parts: readonly TranscriptPart[]): Uint8Array {
  return sha256(transcriptBytes(tag, parts));
}

/**
 * Hash to a scalar of `group`: SHA-512 of the transcript (64 bytes) reduced mod the order, so the
 * bias is below 2^-250 for every group here. May return 0 (probability ~2^-252); callers that need
 * a non-zero scalar check it.
 */
export function hashToScalar(group: Group, tag: string, parts: readonly TranscriptPart[]): bigint {
  return bytesToNumberBE(sha512(transcriptBytes(tag, parts))) % group.order;
}
