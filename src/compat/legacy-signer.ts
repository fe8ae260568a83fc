import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { sha256 } from '@noble/hashes/sha2.js';
import { canonicalBytes } from '../common/canonical-json.ts';
import { fromHex, toHex } from '../common/bytes.ts';
import { ConflictError, NotFoundError, ValidationError, asCustosError } from '../common/errors.ts';
import { installProblemHandlers, serverOptions } from '../common/http.ts';
import type { Logger } from '../common/logger.ts';
import { problemOf, PROBLEM_CONTENT_TYPE } from '../common/problem.ts';
import * as S from '../coordinator/schemas.ts';
import { LEGACY_SCHEMES, schemeDoor, storedSignature, type SignAnswer, type SingleKeySigner } from './legacy-schemes.ts';
import { LegacyStore, type LegacyRequestRow } from './legacy-store.ts';

export { DEFAULT_LEGACY_SCHEME, isLegacyScheme, LEGACY_SCHEMES, type LegacyScheme, type SingleKeySigner } from './legacy-schemes.ts';

/**
 * The legacy single-key HSM signer (ARCHITECTURE.md, compat/): one key in a PKCS#11 token behind
 * the coordinator's sign route, POST /v1/keys/:id/sign. For an Ed25519 key
 * {"payload":{"type":"message","hex"}} -> {"requestId","signature"}; for an ecdsa-secp256k1 key
 * {"payload":{"type":"digest","hex"}} -> {"requestId","signature","recoveryId","publicKey","presigned"}
 * (legacy-schemes.ts). It is the baseline custos' threshold signing is measured against,
 * so it keeps the coordinator's production discipline: schema-checked bodies, problem+json errors,
 * every request recorded durably before the HSM signs and updated after, Idempotency-Key replays.
 * The key itself is injected (cli/legacy-signer.ts opens it in SoftHSM): compat/ does not touch HSMs.
 */

export type LegacyApiDeps = {
  signer: SingleKeySigner;
  store: LegacyStore;
  log: Logger;
  bodyLimit?: number;
  /** Verify every signature with @noble/curves before answering (about 2 ms each); default off, as a single-key HSM signer trusts its HSM. */
  verifySignatures?: boolean;
};

const IDEMPOTENCY_RE = /^[\x21-\x7e]{1,255}$/;

const keySchema = {
  type: 'object',
  required: ['id', 'scheme', 'publicKey'],
  properties: {
    id: { type: 'string' },
    scheme: { type: 'string', enum: [...LEGACY_SCHEMES] },
    publicKey: { type: 'string', description: 'hex: 32-byte Ed25519 public key (RFC 8032), or 33-byte compressed secp256k1 key' },
  },
} as const;

type ReplyLike = { code: (n: number) => unknown; type: (t: string) => unknown };
type SignBody = { payload: { type: 'message' | 'digest'; hex: string } };
type Signed = SignAnswer & { requestId: string };

/** What an Idempotency-Key is bound to: the key and the canonical body (as the coordinator binds it). */
export function legacyRequestHash(keyId: string, body: SignBody): string {
  return toHex(sha256(canonicalBytes({ keyId, body })));
}

export function buildLegacyApi(d: LegacyApiDeps): FastifyInstance {
  const app = Fastify(serverOptions(d.bodyLimit ?? 8 * 1024 * 1024));
  installProblemHandlers(app, d.log);
  const keyId = d.signer.keyId;
  const door = schemeDoor(d.signer, d.verifySignatures ?? false);
  const keyView = { id: keyId, scheme: door.scheme, publicKey: toHex(door.publicKey) };
  const requireKey = (id: string) => { if (id !== keyId) throw new NotFoundError('key', id); };

  /** Signs, checks if asked, and records the outcome; the row was inserted as SIGNING before. */
  const signAndFinish = (requestId: string, payload: Uint8Array): Signed => {
    try {
      const { answer, stored } = door.sign(payload);
      d.store.finishRequest(requestId, 'SIGNED', { signature: stored });
      return { requestId, ...answer };
    } catch (e) {
      const err = asCustosError(e);
      d.store.finishRequest(requestId, 'FAILED', { error: JSON.stringify(problemOf(err)) });
      d.log.warn('sign.failed', { request: requestId, key: keyId, code: err.code });
      throw err;
    }
  };

  /**
   * The answer to a repeated Idempotency-Key. Signing runs synchronously from insert to update,
   * so a row still SIGNING was left by a process that stopped in between: it is finished now.
   * Ed25519 is deterministic (RFC 8032 §5.1.6), so this signature equals any the dead process
   * may have produced. ECDSA is not (the token draws the nonce), but a signature the dead process
   * made was never answered (the answer follows the update), and signatures of one digest under
   * independent nonces reveal nothing more than one does.
   */
  const replayPrior = (prior: LegacyRequestRow, bodyHash: string, reply: ReplyLike) => {
    if (prior.body_hash !== bodyHash) {
      throw new ValidationError('this Idempotency-Key was already used with a different request body', { code: 'request.idempotency_mismatch', status: 422 });
    }
    if (prior.status === 'SIGNED') return { requestId: prior.id, ...door.recall(prior.signature!) };
    if (prior.status === 'FAILED') {
      const p = JSON.parse(prior.error!);
      reply.code(p.status);
      reply.type(PROBLEM_CONTENT_TYPE);
      return p;
    }
    d.log.warn('sign.resumed', { request: prior.id, key: keyId });
    const payload = JSON.parse(prior.payload) as SignBody['payload'];
    return signAndFinish(prior.id, fromHex(payload.hex, 'payload.hex'));
  };

  app.get('/healthz', async (_req, reply) => {
    const ok = d.signer.healthy();
    void reply.code(ok ? 200 : 503);
    return { status: ok ? 'ok' : 'unavailable', keyId };
  });

  app.get('/v1/keys', async () => ({ keys: [keyView] }));

  app.get('/v1/keys/:id', { schema: { params: S.idParam, response: { 200: keySchema } } }, async (req) => {
    requireKey((req.params as { id: string }).id);
    return keyView;
  });

  app.post('/v1/keys/:id/sign', { schema: { params: S.idParam, body: door.bodySchema, response: { 200: door.resultSchema } } }, async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const body = req.body as SignBody;
    requireKey(id);
    const payload = fromHex(body.payload.hex, 'payload.hex');
    const idem = req.headers['idempotency-key'];
    if (idem !== undefined && (typeof idem !== 'string' || !IDEMPOTENCY_RE.test(idem))) throw new ValidationError('Idempotency-Key must be 1..255 printable ASCII characters', { code: 'request.bad_idempotency_key' });
    const bodyHash = legacyRequestHash(id, body);
    if (idem) {
      const prior = d.store.requestByIdempotencyKey(idem);
      if (prior) return replayPrior(prior, bodyHash, reply as unknown as ReplyLike);
    }
    const requestId = randomUUID();
    try {
      d.store.insertRequest({ id: requestId, key_id: id, idempotency_key: idem ?? null, body_hash: bodyHash, payload: JSON.stringify(body.payload) });
    } catch {
      const prior = idem ? d.store.requestByIdempotencyKey(idem) : undefined;
      if (prior) return replayPrior(prior, bodyHash, reply as unknown as ReplyLike);
      throw new ConflictError('request.conflict', 'could not record the request');
    }
    return signAndFinish(requestId, payload);
  });

  app.get('/v1/requests/:id', { schema: { params: S.idParam } }, async (req) => {
    const rid = (req.params as { id: string }).id;
    const r = d.store.getRequest(rid);
    if (!r) throw new NotFoundError('request', rid);
    return {
      id: r.id, keyId: r.key_id, status: r.status,
      ...(r.signature ? storedSignature(r.signature) : {}),
      ...(r.error ? { error: JSON.parse(r.error) } : {}),
      createdAt: r.created_at, updatedAt: r.updated_at,
    };
  });

  return app;
}
