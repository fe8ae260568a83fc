import { sha256 } from '@noble/hashes/sha2.js';
import { canonicalBytes } from '../common/canonical-json.ts';
import { toHex } from '../common/bytes.ts';

/**
 * The session id of a DKG commits to its parameters: a coordinator that gives two nodes
 * different parameters gives them different sessions, and their messages do not verify.
 */
export function dkgSessionId(keyId: string, params: { scheme: string; threshold: number; parties: string[]; requiredParties?: string[] }): string {
  const base = { keyId, scheme: params.scheme, threshold: params.threshold, parties: params.parties };
  // A cold key's required parties are committed too; keys without any keep their old session ids.
  const h = toHex(sha256(canonicalBytes(params.requiredParties?.length ? { ...base, requiredParties: params.requiredParties } : base))).slice(0, 24);
  return `dkg.${keyId}.${h}`;
}

