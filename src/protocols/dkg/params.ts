import { fromHex } from '../../common/bytes.ts';
import { ValidationError } from '../../common/errors.ts';
import { groupOf, isScheme, MAX_PARTIES, MIN_THRESHOLD } from '../../common/schemes.ts';
import { getGroup, type Group } from '../../crypto/group.ts';
import type { PokContext } from '../../crypto/schnorr-pok.ts';
import { transcriptBytes } from '../../crypto/transcript.ts';
import type { DkgParams } from './types.ts';
import type { SetupContext } from '../dkls23/setup.ts';

const bad = (message: string, field: string) => new ValidationError(message, { code: 'dkg.bad_params', detail: { field } });

/** Checks parameters before anything is generated; every party runs the same checks. */
export function checkParams(p: DkgParams): void {
  if (typeof p !== 'object' || p === null) throw bad('params must be an object', 'params');
  if (typeof p.sessionId !== 'string' || p.sessionId.length === 0 || p.sessionId.length > 256) throw bad('sessionId must be a non-empty string', 'sessionId');
  if (!isScheme(p.scheme)) throw bad(`unknown scheme ${JSON.stringify(p.scheme)}`, 'scheme');
  const { parties } = p;
  if (!Array.isArray(parties) || parties.length < MIN_THRESHOLD || parties.length > MAX_PARTIES) {
    throw bad(`parties must list ${MIN_THRESHOLD}..${MAX_PARTIES} parties`, 'parties');
  }
  if (parties.some((q) => typeof q !== 'string' || q.length === 0 || q.length > 128)) throw bad('party ids must be non-empty strings', 'parties');
  if (new Set(parties).size !== parties.length) throw bad('parties must be distinct', 'parties');
  if (!Number.isSafeInteger(p.threshold) || p.threshold < MIN_THRESHOLD || p.threshold > parties.length) {
    throw bad(`threshold must be an integer in ${MIN_THRESHOLD}..${parties.length}`, 'threshold');
  }
  if (typeof p.self !== 'string' || !parties.includes(p.self)) throw bad('self must be one of the parties', 'self');
  const keys = p.encryptionKeys;
  if (typeof keys !== 'object' || keys === null) throw bad('encryptionKeys must be an object', 'encryptionKeys');
  const p256 = getGroup('p256');
  for (const q of parties) {
    const field = `encryptionKeys.${q}`;
    if (!Object.hasOwn(keys, q) || typeof keys[q] !== 'string' || !/^[0-9a-f]{66}$/.test(keys[q])) throw bad(`${field} must be a 33-byte compressed P-256 key, lowercase hex`, field);
    try {
      p256.decodePoint(fromHex(keys[q], field), field);
    } catch {
      throw bad(`${field} is not a valid P-256 point`, field);
    }
  }
}

export function groupOfParams(p: DkgParams): Group {
  return getGroup(groupOf(p.scheme));
}

/** FROST identifier of a party as a scalar: its 1-based position in `parties`. */
export function indexOf(p: DkgParams, party: string): bigint {
  const i = p.parties.indexOf(party);
  if (i < 0) throw new RangeError('not a party');
  return BigInt(i + 1);
}

/** The proof of knowledge of a dealer's constant term is bound to session, dealer and scheme. */
export function pokContext(p: DkgParams, dealer: string): PokContext {
  return { sessionId: p.sessionId, party: dealer, purpose: `custos/dkg/v1/${p.scheme}/constant-term` };
}

/** ECIES context (KDF info and AAD) of the share `sender` deals to `receiver`. */
export function shareContext(p: DkgParams, sender: string, receiver: string): Uint8Array {
  return transcriptBytes('custos/dkg/share/v1', [p.sessionId, p.scheme, sender, receiver]);
}

/** What the DKLs23 pairwise setup (ecdsa-secp256k1) needs of the DKG parameters. */
export function setupContext(p: DkgParams): SetupContext {
  return { keySession: p.sessionId, parties: p.parties, self: p.self, encryptionKeys: p.encryptionKeys };
}

/** Round labels as the wire layer signs them. */
export const ROUND1 = 'dkg/1';
export const ROUND2 = 'dkg/2';

/** The proof of knowledge of a share ciphertext's ephemeral key is bound to session, dealer and receiver. */
export function shareEphemeralContext(p: DkgParams, dealer: string, receiver: string): PokContext {
  return { sessionId: p.sessionId, party: dealer, purpose: `custos/dkg/v1/${p.scheme}/share-ephemeral/${receiver}` };
}
