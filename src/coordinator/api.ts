import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { sha256 } from '@noble/hashes/sha2.js';
import { canonicalBytes } from '../common/canonical-json.ts';
import { fromHex, toHex } from '../common/bytes.ts';
import { ConflictError, NotFoundError, ValidationError, asCustosError } from '../common/errors.ts';
import { installProblemHandlers, serverOptions } from '../common/http.ts';
import { problemOf, PROBLEM_CONTENT_TYPE } from '../common/problem.ts';
import type { Logger } from '../common/logger.ts';
import { isEcdsa, type Scheme } from '../common/schemes.ts';
import { genesisHash, type Genesis } from '../wire/genesis.ts';
import { verifyKeyAttestations } from '../wire/attestation.ts';
import type { Envelope } from '../wire/envelope.ts';
import { keyView, type CoordinatorStore, type RequestRow } from './store.ts';
import type { Cluster } from './cluster.ts';
import type { SigningService } from './signing.ts';
import type { EcdsaSigning } from './ecdsa-signing.ts';
import { deriveNonHardened, parseDerivationPath, xpubOf } from '../crypto/bip32-public.ts';
import type { Metrics } from './metrics.ts';
import { runDkg } from './dkg-runner.ts';
import { openApiDocument } from './openapi.ts';
import * as S from './schemas.ts';

export type ApiDeps = {
  genesis: Genesis;
  store: CoordinatorStore;
  cluster: Cluster;
  signing: SigningService;
  ecdsa: EcdsaSigning;
  metrics: Metrics;
  log: Logger;
  bodyLimit?: number;
  /** Sees every envelope relayed during key generation (tests inspect it). */
  onRelay?: (round: string, envs: Envelope[]) => void;
  /** Called after a key is created (the pool keeper warms its pools). */
  onKeyCreated?: (keyId: string) => void;
};

const IDEMPOTENCY_RE = /^[\x21-\x7e]{1,255}$/;

export function buildApi(d: ApiDeps): FastifyInstance {
  const app = Fastify(serverOptions(d.bodyLimit ?? 8 * 1024 * 1024));
  installProblemHandlers(app, d.log);
  const signed = d.metrics.counter('custos_signatures_total', 'Signatures produced, by scheme');
  const failed = d.metrics.counter('custos_sign_failures_total', 'Sign requests that failed, by code');
  const keysCreated = d.metrics.counter('custos_keys_created_total', 'Keys created by DKG, by scheme');
  const latency = d.metrics.histogram('custos_sign_seconds', 'Sign call latency in seconds', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  d.metrics.gauge('custos_node_up', 'Whether a signer node answered its last probe', () => d.genesis.nodes.map((n) => ({ labels: { node: n.id }, value: d.cluster.isUp(n.id) ? 1 : 0 })));
  d.metrics.gauge('custos_nonce_pool_level', 'Pooled FROST nonce commitments or DKLs23 presignatures per key and quorum', () => d.store.poolLevels().map((r) => ({ labels: { key: r.key_id, quorum: r.quorum }, value: r.n })));

  app.get('/openapi.json', async () => openApiDocument());

  app.get('/healthz', async (_req, reply) => {
    const nodes = await d.cluster.probe();
    const up = Object.values(nodes).filter(Boolean).length;
    const status = up === d.genesis.nodes.length ? 'ok' : up >= d.genesis.thresholds.min ? 'degraded' : 'unavailable';
    void reply.code(status === 'unavailable' ? 503 : 200);
    return { status, nodes };
  });

  app.get('/metrics', async (_req, reply) => {
    void reply.type('text/plain; version=0.0.4');
    return d.metrics.render();
  });

  app.post('/v1/keys', { schema: { body: S.createKeyBody, response: { 201: S.key } } }, async (req, reply) => {
    const b = req.body as { scheme: Scheme; threshold: number; parties?: string[] };
    const all = d.genesis.nodes.map((n) => n.id);
    const parties = b.parties ?? all;
    const unknown = parties.filter((p) => !all.includes(p));
    if (unknown.length) throw new ValidationError(`unknown node ids: ${unknown.join(', ')}`, { code: 'key.unknown_party' });
    const ordered = all.filter((p) => parties.includes(p));
    if (b.threshold > ordered.length) throw new ValidationError(`threshold ${b.threshold} exceeds the number of parties (${ordered.length})`, { code: 'key.bad_threshold' });
    const { min, max } = d.genesis.thresholds;
    if (b.threshold < min || b.threshold > max) throw new ValidationError(`threshold must be between ${min} and ${max} in this cluster`, { code: 'key.bad_threshold' });
    const out = await runDkg(d.cluster, { scheme: b.scheme, threshold: b.threshold, parties: ordered }, d.onRelay);
    // What the API will hand out must pass the same check a client runs (custos keys show --verify).
    verifyKeyAttestations(d.genesis, genesisHash(d.genesis), { keyId: out.keyId, scheme: b.scheme, threshold: b.threshold, parties: ordered, publicKey: out.publicKey, transcriptHash: out.attestations[0]?.transcriptHash ?? '', chainCode: (out.groupPublic as { chainCode?: string }).chainCode }, out.attestations);
    const row = d.store.insertKey({
      id: out.keyId, scheme: b.scheme, threshold: b.threshold, parties: JSON.stringify(ordered), public_key: out.publicKey,
      internal_key: out.groupPublic.internalKey ?? null, group_public: JSON.stringify(out.groupPublic), attestations: JSON.stringify(out.attestations),
    });
    keysCreated({ scheme: b.scheme });
    d.log.info('key.created', { key: out.keyId, scheme: b.scheme, threshold: b.threshold });
    d.onKeyCreated?.(out.keyId);
    void reply.code(201);
    return keyView(row);
  });

  app.get('/v1/keys', { schema: { querystring: S.listQuery } }, async (req) => {
    const q = req.query as { limit?: string; after?: string };
    return { keys: d.store.listKeys(q.limit === undefined ? 100 : Number(q.limit), q.after).map(keyView) };
  });

  app.get('/v1/keys/:id', { schema: { params: S.idParam, response: { 200: S.key } } }, async (req) => {
    const id = (req.params as { id: string }).id;
    const k = d.store.getKey(id);
    if (!k) throw new NotFoundError('key', id);
    return keyView(k);
  });

  app.post('/v1/keys/:id/sign', { schema: { params: S.idParam, body: S.signBody, response: { 200: S.signResult } } }, async (req, reply) => {
    const keyId = (req.params as { id: string }).id;
    const body = req.body as { payload: { type: 'message' | 'digest'; hex: string }; derivationPath?: string };
    const key = d.store.getKey(keyId);
    if (!key) throw new NotFoundError('key', keyId);
    const ecdsa = isEcdsa(key.scheme as Scheme);
    if (ecdsa) {
      if (body.payload.type !== 'digest' || body.payload.hex.length !== 64) throw new ValidationError('an ecdsa-secp256k1 key signs {"payload":{"type":"digest","hex": 32 bytes of hex}}', { code: 'sign.bad_payload' });
      // Refused here, before anything is recorded: a bad path is the client's error, not a failure.
      parseDerivationPath(body.derivationPath ?? 'm');
    } else {
      if (body.payload.type !== 'message') throw new ValidationError(`a ${key.scheme} key signs {"payload":{"type":"message","hex": …}}`, { code: 'sign.bad_payload' });
      if (body.derivationPath !== undefined) throw new ValidationError(`derivationPath applies to ecdsa-secp256k1 keys only, not ${key.scheme}`, { code: 'derivation.unsupported' });
    }
    const message = fromHex(body.payload.hex.toLowerCase(), 'payload.hex');
    const idem = req.headers['idempotency-key'];
    if (idem !== undefined && (typeof idem !== 'string' || !IDEMPOTENCY_RE.test(idem))) throw new ValidationError('Idempotency-Key must be 1..255 printable ASCII characters', { code: 'request.bad_idempotency_key' });
    const bodyHash = toHex(sha256(canonicalBytes({ keyId, body })));
    if (idem) {
      const prior = d.store.requestByIdempotencyKey(idem);
      if (prior) return replayPrior(prior, bodyHash, reply as unknown as ReplyLike);
    }
    const requestId = randomUUID();
    try {
      d.store.insertRequest({ id: requestId, key_id: keyId, idempotency_key: idem ?? null, body_hash: bodyHash, payload: JSON.stringify(body.payload), status: 'SIGNING' });
    } catch {
      const prior = idem ? d.store.requestByIdempotencyKey(idem) : undefined;
      if (prior) return replayPrior(prior, bodyHash, reply as unknown as ReplyLike);
      throw new ConflictError('request.conflict', 'could not record the request');
    }
    const t0 = performance.now();
    try {
      if (ecdsa) {
        const out = await d.ecdsa.sign(key, { digest: message, derivationPath: body.derivationPath, requestId });
        const result = { recoveryId: out.recoveryId, publicKey: out.publicKey, presigned: out.presigned };
        d.store.finishRequest(requestId, 'SIGNED', { signature: out.signature, signers: out.signers, result });
        signed({ scheme: key.scheme });
        latency((performance.now() - t0) / 1000, { scheme: key.scheme });
        return { requestId, signature: out.signature, ...result, signers: out.signers };
      }
      const out = await d.signing.sign(key, message, requestId);
      d.store.finishRequest(requestId, 'SIGNED', { signature: out.signature, signers: out.signers });
      signed({ scheme: key.scheme });
      latency((performance.now() - t0) / 1000, { scheme: key.scheme });
      return { requestId, signature: out.signature, signers: out.signers };
    } catch (e) {
      const err = asCustosError(e);
      // No signature came out, so a retry under the same Idempotency-Key cannot sign twice: free it.
      d.store.finishRequest(requestId, 'FAILED', { error: JSON.stringify(problemOf(err)), releaseIdempotencyKey: true });
      failed({ code: err.code });
      d.log.warn('sign.failed', { request: requestId, key: keyId, code: err.code, culprit: err.culprit ?? null });
      throw err;
    }
  });

  app.get('/v1/keys/:id/xpub', { schema: { params: S.idParam, querystring: S.xpubQuery, response: { 200: S.xpub } } }, async (req) => {
    const id = (req.params as { id: string }).id;
    const k = d.store.getKey(id);
    if (!k) throw new NotFoundError('key', id);
    const g = JSON.parse(k.group_public) as { publicKey: string; chainCode?: string };
    if (!g.chainCode) throw new ValidationError(`key ${id} is a ${k.scheme} key; only ecdsa-secp256k1 keys have a BIP32 chain code`, { code: 'key.no_chain_code' });
    const root = { publicKey: fromHex(g.publicKey), chainCode: fromHex(g.chainCode) };
    const out: Record<string, string> = { keyId: id, xpub: xpubOf(root.publicKey, root.chainCode), publicKey: g.publicKey, chainCode: g.chainCode };
    const path = (req.query as { path?: string }).path;
    if (path !== undefined) {
      out.derivationPath = path;
      out.derivedPublicKey = toHex(deriveNonHardened(root, parseDerivationPath(path)).publicKey);
    }
    return out;
  });

  // The latest audit anchor each node handed out with a share: `custos audit verify` checks node
  // logs against them, so a log cut short after the fact is caught.
  app.get('/v1/audit/anchors', async () => ({ anchors: d.store.anchors().map((a) => JSON.parse(a)) }));

  app.get('/v1/requests/:id', { schema: { params: S.idParam } }, async (req) => {
    const id = (req.params as { id: string }).id;
    const r = d.store.getRequest(id);
    if (!r) throw new NotFoundError('request', id);
    return requestView(r);
  });

  return app;
}

function requestView(r: RequestRow) {
  return {
    id: r.id, keyId: r.key_id, status: r.status,
    ...(r.signature ? { signature: r.signature } : {}),
    ...(r.result ? JSON.parse(r.result) : {}),
    ...(r.signers ? { signers: JSON.parse(r.signers) } : {}),
    ...(r.error ? { error: JSON.parse(r.error) } : {}),
    createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

type ReplyLike = { code: (n: number) => unknown; type: (t: string) => unknown };

function replayPrior(prior: RequestRow, bodyHash: string, reply: ReplyLike) {
  if (prior.body_hash !== bodyHash) {
    throw new ValidationError('this Idempotency-Key was already used with a different request body', { code: 'request.idempotency_mismatch', status: 422 });
  }
  if (prior.status === 'SIGNED') return { requestId: prior.id, signature: prior.signature!, ...(prior.result ? JSON.parse(prior.result) : {}), signers: JSON.parse(prior.signers ?? '[]') };
  if (prior.status === 'FAILED') {
    const p = JSON.parse(prior.error!);
    reply.code(p.status); reply.type(PROBLEM_CONTENT_TYPE);
    return p;
  }
  throw new ConflictError('request.in_progress', `request ${prior.id} with this Idempotency-Key is still being signed`, { requestId: prior.id });
}
