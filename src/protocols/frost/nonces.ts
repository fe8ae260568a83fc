import { concatBytes, utf8, wipe } from '../../common/bytes.ts';
import { ReuseError, ValidationError } from '../../common/errors.ts';
import { SCHEMES, type Scheme } from '../../common/schemes.ts';
import { suiteOf } from './suite.ts';

/**
 * A party's secret round-one nonces (RFC 9591 Section 5.1: hiding_nonce, binding_nonce).
 * HAZARD: used for more than one signature they reveal the signing share. They are sealed right
 * after round one and burned by the caller before a signature share leaves the node.
 */
export type SigningNonces = {
  scheme: Scheme;
  party: string;
  hiding: Uint8Array;
  binding: Uint8Array;
};

/**
 * Sealable encoding, binary so that no secret ever sits in an immutable JS string:
 *   "CXFN" | version u8 (=1) | scheme u8 (index in SCHEMES + 1) | party length u8 | party utf8 |
 *   hiding SerializeScalar (32) | binding SerializeScalar (32)
 * An all-zero buffer is what signShare leaves behind: it reads as "already used".
 */
const MAGIC = utf8('CXFN');
const VERSION = 1;
const SCALAR = 32;

export function encodeNonces(n: SigningNonces): Uint8Array {
  const party = utf8(n.party);
  if (party.length < 1 || party.length > 255) throw new ValidationError('party id must be 1..255 bytes', { code: 'frost.bad_nonce' });
  if (n.hiding.length !== SCALAR || n.binding.length !== SCALAR) throw new ValidationError('nonces must be 32-byte scalars', { code: 'frost.bad_nonce' });
  return concatBytes(MAGIC, Uint8Array.of(VERSION, SCHEMES.indexOf(n.scheme) + 1, party.length), party, n.hiding, n.binding);
}

/** Parses nonces for `expect` (scheme and party). Copies the scalars out; the caller wipes them. */
export function decodeNonces(bytes: Uint8Array, expect: { scheme: Scheme; party: string }): SigningNonces {
  if (!(bytes instanceof Uint8Array)) throw new ValidationError('nonces must be bytes', { code: 'frost.bad_nonce' });
  if (bytes.length > 0 && bytes.every((b) => b === 0)) throw used();
  const malformed = () => new ValidationError('nonce bytes are malformed or of an unknown format', { code: 'frost.bad_nonce' });
  if (bytes.length < MAGIC.length + 3 || MAGIC.some((m, i) => bytes[i] !== m)) throw malformed();
  const version = bytes[4];
  if (version !== VERSION) throw new ValidationError(`nonce format version ${version} is not supported`, { code: 'frost.bad_nonce' });
  const scheme = SCHEMES[bytes[5] - 1];
  const partyLen = bytes[6];
  if (scheme === undefined || bytes.length !== 7 + partyLen + 2 * SCALAR) throw malformed();
  const party = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(7, 7 + partyLen));
  if (scheme !== expect.scheme || party !== expect.party) {
    throw new ValidationError(`nonces were made by ${JSON.stringify(party)} for ${scheme}, not by ${JSON.stringify(expect.party)} for ${expect.scheme}`, { code: 'frost.nonce_mismatch' });
  }
  const off = 7 + partyLen;
  const hiding = bytes.slice(off, off + SCALAR);
  const binding = bytes.slice(off + SCALAR, off + 2 * SCALAR);
  if (hiding.every((b) => b === 0) || binding.every((b) => b === 0)) throw used();
  const suite = suiteOf(scheme);
  try {
    suite.decodeScalar(hiding);
    suite.decodeScalar(binding);
  } catch {
    wipe(hiding, binding);
    throw new ValidationError('nonces are not canonical scalars', { code: 'frost.bad_nonce' });
  }
  return { scheme, party, hiding, binding };
}

function used(): ReuseError {
  return new ReuseError('frost.nonce_used', 'these nonces were already used (or wiped); a nonce signs at most once');
}
