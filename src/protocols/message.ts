import { createHash } from 'node:crypto';
import { canonicalJson } from '../common/canonical-json.ts';

/**
 * How protocol rounds see messages. Rounds are sans-IO: the caller (node, offline CLI, test)
 * delivers inbound messages and sends the outbound payloads. Payloads are plain JSON values
 * (bytes as lowercase hex) so they serialise canonically.
 *
 * Every message is signed by its sender (the wire layer's envelope). A round that needs to prove
 * what a sender said (echo / equivocation evidence, complaints) receives the sender's signature
 * and checks it through the injected Authenticator, which knows the session's identity keys.
 */
export type Inbound<P> = {
  from: string;
  payload: P;
  /** The sender's signature over (session, round, from, to, payloadDigest(payload)), hex. */
  signature: string;
};

export interface Authenticator {
  /** True if `from` signed `digest` as its message of `round` to `to` ("*" = broadcast) in this session. */
  verify(from: string, round: string, to: string, digest: Uint8Array, signature: string): boolean;
}

/** Digest of a payload as the wire layer signs it: SHA-256 of its canonical JSON. node:crypto's
 * SHA-256, because DKLs23 presigning messages run to hundreds of KB and are hashed by sender,
 * coordinator and receiver. */
export function payloadDigest(payload: unknown): Uint8Array {
  return new Uint8Array(createHash('sha256').update(canonicalJson(payload), 'utf8').digest());
}

export const BROADCAST = '*';
