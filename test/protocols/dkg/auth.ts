import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, toHex, utf8 } from '../../../src/common/bytes.ts';
import { canonicalBytes } from '../../../src/common/canonical-json.ts';
import type { Authenticator } from '../../../src/protocols/message.ts';

/**
 * TEST ONLY: node identities for DKG tests. Real P-256 ECDSA keys (derived from a seed, so runs
 * are reproducible) sign SHA-256 of a canonical header (session, round, from, to, digest), the
 * shape the wire layer's envelopes sign, and an Authenticator checks them.
 */
export type TestIdentities = {
  sign(from: string, round: string, to: string, digest: Uint8Array): string;
  authenticator: Authenticator;
};

function header(session: string, round: string, from: string, to: string, digest: Uint8Array): Uint8Array {
  return sha256(canonicalBytes({ domain: 'custos/test-envelope', session, round, from, to, digest: toHex(digest) }));
}

export function testIdentities(session: string, parties: string[], seed = 'identity'): TestIdentities {
  const secret = new Map(parties.map((p) => [p, sha256(concatBytes(utf8(seed), utf8('/'), utf8(p)))]));
  const pub = new Map(parties.map((p) => [p, p256.getPublicKey(secret.get(p)!, true)]));
  return {
    sign(from, round, to, digest) {
      const sk = secret.get(from);
      if (!sk) throw new Error(`no identity key for ${from}`);
      return toHex(p256.sign(header(session, round, from, to, digest), sk, { prehash: false, lowS: true }));
    },
    authenticator: {
      verify(from, round, to, digest, signature) {
        const pk = pub.get(from);
        if (!pk || typeof signature !== 'string' || !/^[0-9a-f]{128}$/.test(signature)) return false;
        try {
          return p256.verify(Buffer.from(signature, 'hex'), header(session, round, from, to, digest), pk, { prehash: false, lowS: true });
        } catch {
          return false;
        }
      },
    },
  };
}
