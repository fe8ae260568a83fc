import type { NonceCommitments } from '@noble/curves/abstract/frost.js';
import { ValidationError } from '../../common/errors.ts';
import { decodePointHex, type ImportedPublic } from './keys.ts';
import { suiteOf } from './suite.ts';
import type { Scheme } from '../../common/schemes.ts';

/**
 * A party's public round-one output (RFC 9591 Section 5.1): the commitments to its hiding and
 * binding nonces, hex SerializeElement. `identifier` is the party's FROST identifier as hex
 * SerializeScalar (see suite.ts identifierAt).
 */
export type FrostCommitment = {
  party: string;
  identifier: string;
  hiding: string;
  binding: string;
};

/** An entry of a commitment list as the rounds accept it: `identifier` may be left out (it follows
 * from `party` and the key's party order); when present it must be the party's identifier. */
export type FrostCommitmentInput = {
  party: string;
  identifier?: string;
  hiding: string;
  binding: string;
};

/**
 * Validates a signing set's commitment list (RFC 9591 Sections 5.2/5.3 commitment_list) and
 * converts it to noble's form. One entry per signer, signers distinct parties of the key, at
 * least `threshold` of them, every commitment a valid non-identity element.
 */
export function importCommitments(imported: ImportedPublic, list: readonly FrostCommitmentInput[]): NonceCommitments[] {
  const bad = (message: string, party?: string) => new ValidationError(message, { code: 'frost.bad_commitments', detail: party === undefined ? undefined : { party } });
  if (!Array.isArray(list)) throw bad('commitments must be an array');
  const seen = new Set<string>();
  const out = list.map((c, i): NonceCommitments => {
    if (typeof c !== 'object' || c === null || typeof c.party !== 'string') throw bad(`commitments[${i}] must be an object with a party`);
    const identifier = imported.identifierOf(c.party);
    if (c.identifier !== undefined && c.identifier !== identifier) throw bad(`commitment of ${c.party} carries identifier ${String(c.identifier)}, expected ${identifier}`, c.party);
    if (seen.has(c.party)) throw bad(`more than one commitment from ${c.party}`, c.party);
    seen.add(c.party);
    return {
      identifier,
      hiding: decodePointHex(imported.suite, c.hiding, `commitments.${c.party}.hiding`).toBytes(),
      binding: decodePointHex(imported.suite, c.binding, `commitments.${c.party}.binding`).toBytes(),
    };
  });
  const t = imported.threshold;
  if (out.length < t) throw bad(`${out.length} signers is fewer than the threshold ${t}`);
  return out;
}

/** Whether one commitment's hiding and binding points are valid, non-identity group elements of
 * `scheme` (RFC 9591 Section 3.1), so a bad one can be pinned on its signer before use. */
export function commitmentIsValid(scheme: Scheme, c: { hiding: string; binding: string }): boolean {
  const suite = suiteOf(scheme);
  try {
    decodePointHex(suite, c.hiding, 'hiding');
    decodePointHex(suite, c.binding, 'binding');
    return true;
  } catch {
    return false;
  }
}
