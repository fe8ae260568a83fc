/** The signature schemes a key can have. FROST schemes follow RFC 9591; bip340 is FROST over
 * secp256k1 producing BIP340 signatures under a BIP86-tweaked (empty script tree) output key;
 * ecdsa-secp256k1 is threshold ECDSA by DKLs23 (ePrint 2023/765). */
export const SCHEMES = ['frost-ed25519', 'frost-secp256k1', 'bip340', 'ecdsa-secp256k1'] as const;
export type Scheme = (typeof SCHEMES)[number];

/** The FROST schemes (RFC 9591 signing). */
export type FrostScheme = Exclude<Scheme, 'ecdsa-secp256k1'>;
export const FROST_SCHEMES: readonly FrostScheme[] = ['frost-ed25519', 'frost-secp256k1', 'bip340'];

export function isScheme(s: unknown): s is Scheme {
  return typeof s === 'string' && (SCHEMES as readonly string[]).includes(s);
}

/** The curve group a scheme's shares live in. */
export function groupOf(s: Scheme): 'ed25519' | 'secp256k1' {
  return s === 'frost-ed25519' ? 'ed25519' : 'secp256k1';
}

/** True for the threshold-ECDSA scheme, whose keys carry DKLs23 pairwise setup and a chain code. */
export function isEcdsa(s: Scheme): boolean {
  return s === 'ecdsa-secp256k1';
}

export const MIN_THRESHOLD = 2;
export const MAX_PARTIES = 10;
