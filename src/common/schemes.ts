/** The signature schemes a key can have. FROST schemes follow RFC 9591; bip340 is FROST over
 * secp256k1 producing BIP340 signatures under a BIP86-tweaked (empty script tree) output key. */
export const SCHEMES = ['frost-ed25519', 'frost-secp256k1', 'bip340'] as const;
export type Scheme = (typeof SCHEMES)[number];

export function isScheme(s: unknown): s is Scheme {
  return typeof s === 'string' && (SCHEMES as readonly string[]).includes(s);
}

/** The curve group a scheme's shares live in. */
export function groupOf(s: Scheme): 'ed25519' | 'secp256k1' {
  return s === 'frost-ed25519' ? 'ed25519' : 'secp256k1';
}

export const MIN_THRESHOLD = 2;
export const MAX_PARTIES = 10;
