import { verifyP256 } from '../crypto/p256-signature.ts';
import { canonicalBytes, type Json } from '../common/canonical-json.ts';
import { fromHex, toHex } from '../common/bytes.ts';
import { AuthenticationError, ValidationError } from '../common/errors.ts';
import { payloadDigest, type Authenticator } from '../protocols/message.ts';

/**
 * A signed, addressed protocol message. The signature binds the cluster (genesis hash), the
 * session, the round, sender and recipient ("*" for a broadcast) and the payload digest, so a
 * message cannot be replayed into another session or round, or redirected to another party.
 * The coordinator relays envelopes but cannot forge or alter them.
 */
export type Envelope<P = Json> = {
  v: 1;
  cluster: string;
  session: string;
  round: string;
  from: string;
  to: string;
  payload: P;
  /** ECDSA P-256 (low-s, r||s) by the sender's identity key over signedDigest(). Hex. */
  sig: string;
};

export type EnvelopeHeader = { cluster: string; session: string; round: string; from: string; to: string };

const DOMAIN = 'custos/envelope/v1';

/** The bytes a sender signs: hashed by the signer (ECDSA over SHA-256 of these bytes). */
export function signedBytes(h: EnvelopeHeader, digest: Uint8Array): Uint8Array {
  return canonicalBytes({ domain: DOMAIN, cluster: h.cluster, session: h.session, round: h.round, from: h.from, to: h.to, digest: toHex(digest) });
}

export type IdentitySigner = (message: Uint8Array) => Uint8Array;

export function sealEnvelope<P>(h: EnvelopeHeader, payload: P, sign: IdentitySigner): Envelope<P> {
  const sig = sign(signedBytes(h, payloadDigest(payload)));
  return { v: 1, ...h, payload, sig: toHex(sig) };
}

export function verifyIdentitySignature(publicKey: Uint8Array, message: Uint8Array, sigHex: string): boolean {
  try {
    return verifyP256(publicKey, message, fromHex(sigHex, 'sig', 64));
  } catch {
    return false;
  }
}

/** Structural check of an envelope from an untrusted source (the coordinator's relay). */
export function parseEnvelope(x: unknown, what = 'envelope'): Envelope {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new ValidationError(`${what} must be an object`, { code: 'envelope.malformed' });
  const e = x as Record<string, unknown>;
  for (const k of ['cluster', 'session', 'round', 'from', 'to', 'sig'] as const) {
    if (typeof e[k] !== 'string' || (e[k] as string).length === 0 || (e[k] as string).length > 256) {
      throw new ValidationError(`${what}.${k} must be a non-empty string`, { code: 'envelope.malformed' });
    }
  }
  if (e.v !== 1) throw new ValidationError(`${what}.v must be 1`, { code: 'envelope.unsupported_version' });
  if (!('payload' in e)) throw new ValidationError(`${what}.payload is missing`, { code: 'envelope.malformed' });
  return e as unknown as Envelope;
}

/** Knows the identity keys of a cluster's nodes; verifies envelopes against them. */
export class EnvelopeVerifier {
  readonly cluster: string;
  readonly #keys: Map<string, Uint8Array>;
  constructor(cluster: string, identityKeys: Record<string, Uint8Array>) {
    this.cluster = cluster;
    this.#keys = new Map(Object.entries(identityKeys));
  }

  knows(party: string): boolean {
    return this.#keys.has(party);
  }

  /**
   * Verifies origin, cluster, session, round and recipient. Throws AuthenticationError naming who
   * is to blame: `relayed` (the default) means the envelope came through the coordinator, which is
   * then the culprit for anything wrong with it (a node cannot tell a forged relay from a bad
   * sender); the coordinator itself verifies what it receives directly from a node with
   * `relayed: false`, and then blames that node.
   */
  verify(env: Envelope, expect: { session: string; round: string; to: string; from?: string; relayed?: boolean }): Uint8Array {
    const blame = expect.relayed === false ? env.from : 'coordinator';
    const key = this.#keys.get(env.from);
    if (!key) throw new AuthenticationError('envelope.unknown_sender', `message from ${JSON.stringify(env.from)}, which is not a node of this cluster's genesis`, 'coordinator');
    if (expect.from !== undefined && env.from !== expect.from) throw new AuthenticationError('envelope.wrong_sender', `expected a message from ${expect.from}, got one from ${env.from}`, expect.relayed === false ? expect.from : 'coordinator');
    if (env.cluster !== this.cluster) throw new AuthenticationError('envelope.wrong_cluster', `message from ${env.from} belongs to another cluster`, blame);
    if (env.session !== expect.session) throw new AuthenticationError('envelope.wrong_session', `message from ${env.from} belongs to session ${env.session}, not ${expect.session}`, blame);
    if (env.round !== expect.round) throw new AuthenticationError('envelope.wrong_round', `message from ${env.from} is for round ${env.round}, not ${expect.round}`, blame);
    if (env.to !== expect.to) throw new AuthenticationError('envelope.misaddressed', `message from ${env.from} is addressed to ${env.to}, not ${expect.to}`, blame);
    const digest = payloadDigest(env.payload);
    if (!verifyIdentitySignature(key, signedBytes(env, digest), env.sig)) {
      throw new AuthenticationError('envelope.bad_signature', `message from ${env.from} (round ${env.round}) does not carry a valid signature by ${env.from}`, blame);
    }
    // The payload digest, so callers that record what they received need not hash it again.
    return digest;
  }

  /** The Authenticator protocol rounds use to check evidence (echoes, complaints) in one session. */
  authenticator(session: string): Authenticator {
    return {
      verify: (from, round, to, digest, signature) => {
        const key = this.#keys.get(from);
        if (!key) return false;
        return verifyIdentitySignature(key, signedBytes({ cluster: this.cluster, session, round, from, to }, digest), signature);
      },
    };
  }
}
