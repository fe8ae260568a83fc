import Fastify, { type FastifyInstance } from 'fastify';
import { fromHex, toHex } from '../common/bytes.ts';
import { NotFoundError, ValidationError } from '../common/errors.ts';
import { installProblemHandlers, serverOptions } from '../common/http.ts';
import type { Logger } from '../common/logger.ts';
import type { Scheme } from '../common/schemes.ts';
import { genesisHash, type Genesis } from '../wire/genesis.ts';
import { verifyKeyAttestations } from '../wire/attestation.ts';
import type { Envelope } from '../wire/envelope.ts';
import { keyView, type CoordinatorStore } from './store.ts';
import type { Cluster } from './cluster.ts';
import type { SigningService } from './signing.ts';
import type { EcdsaSigning } from './ecdsa-signing.ts';
import { deriveNonHardened, parseDerivationPath, xpubOf } from '../crypto/bip32-public.ts';
import type { Metrics } from './metrics.ts';
import { runDkg } from './dkg-runner.ts';
import { randomUUID } from 'node:crypto';
import type { Airgap } from './airgap.ts';
import { registerAirgapRoutes } from './airgap-routes.ts';
import { openApiDocument } from './openapi.ts';
import * as S from './schemas.ts';
import type { RequestService } from './requests.ts';
import type { AuditLog } from '../wire/audit-log.ts';
import { recordAudit } from './audit-record.ts';
import { installTokenAuth, type ApiTokens } from './api-tokens.ts';
import { registerWebhookRoutes } from './webhook-routes.ts';
import type { WebhookDispatcher } from './webhooks.ts';
import type { WebhookStore } from './webhook-store.ts';

/** Routes open without a token: liveness, metrics scraping, the API description. */
const OPEN_ROUTES = new Set(['/healthz', '/metrics', '/openapi.json']);
export const WEBHOOK_EVENTS = ['key.created', 'request.pending_approval', 'request.approved', 'request.signed', 'request.rejected', 'request.failed', 'request.expired', 'request.cancelled'];
import { registerRequestRoutes } from './request-routes.ts';
import { registerPolicyRoutes } from './policy-routes.ts';

export type ApiDeps = {
  genesis: Genesis;
  store: CoordinatorStore;
  cluster: Cluster;
  signing: SigningService;
  ecdsa: EcdsaSigning;
  requests: RequestService;
  /** The coordinator's own audit log (none without an HSM token). */
  audit?: AuditLog;
  metrics: Metrics;
  log: Logger;
  bodyLimit?: number;
  /** Sees every envelope relayed during key generation (tests inspect it). */
  onRelay?: (round: string, envs: Envelope[]) => void;
  webhooks: { dispatcher: WebhookDispatcher; store: WebhookStore };
  /** API tokens: every route but health, metrics and the OpenAPI document needs one. */
  tokens: ApiTokens;
  /** The coordinator's offline nodes and the jobs waiting on them. */
  airgap: Airgap;
  /** Called after a key is created (the pool keeper warms its pools). */
  onKeyCreated?: (keyId: string) => void;
};


export function buildApi(d: ApiDeps): FastifyInstance {
  const app = Fastify(serverOptions(d.bodyLimit ?? 8 * 1024 * 1024));
  installProblemHandlers(app, d.log);
  installTokenAuth(app, d.tokens, { open: (_m, url) => OPEN_ROUTES.has(url) });
  const signed = d.metrics.counter('custos_signatures_total', 'Signatures produced, by scheme');
  const failed = d.metrics.counter('custos_sign_failures_total', 'Sign requests that failed, by code');
  const keysCreated = d.metrics.counter('custos_keys_created_total', 'Keys created by DKG, by scheme');
  const latency = d.metrics.histogram('custos_sign_seconds', 'Sign call latency in seconds', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  d.requests.onSigned = (scheme, seconds) => { signed({ scheme }); latency(seconds, { scheme }); };
  d.requests.onFailed = (code) => failed({ code });
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

  app.post('/v1/keys', { schema: { body: S.createKeyBody, response: { 201: S.key, 202: { type: 'object', additionalProperties: true } } } }, async (req, reply) => {
    const b = req.body as { scheme: Scheme; threshold: number; parties?: string[]; cold?: boolean };
    const all = d.genesis.nodes.map((n) => n.id);
    // By default a key's parties are the online nodes, and the offline ones too for a cold key:
    // an offline node's share in a hot key would never sign (its quorums avoid the air gap).
    const parties = b.parties ?? (b.cold ? all : all.filter((p) => !d.cluster.isOffline(p)));
    const unknown = parties.filter((p) => !all.includes(p));
    if (unknown.length) throw new ValidationError(`unknown node ids: ${unknown.join(', ')}`, { code: 'key.unknown_party' });
    const ordered = all.filter((p) => parties.includes(p));
    if (b.threshold > ordered.length) throw new ValidationError(`threshold ${b.threshold} exceeds the number of parties (${ordered.length})`, { code: 'key.bad_threshold' });
    const { min, max } = d.genesis.thresholds;
    if (b.threshold < min || b.threshold > max) throw new ValidationError(`threshold must be between ${min} and ${max} in this cluster`, { code: 'key.bad_threshold' });
    const offline = ordered.filter((p) => d.cluster.isOffline(p));
    if (b.cold && offline.length === 0) throw new ValidationError('a cold key needs an offline node among its parties, and none of them is offline here', { code: 'key.no_offline_party' });
    if (b.cold && offline.length >= b.threshold) throw new ValidationError(`a cold key of threshold ${b.threshold} can require at most ${b.threshold - 1} offline node(s) in every quorum`, { code: 'key.bad_threshold' });
    const dkgReq = { scheme: b.scheme, threshold: b.threshold, parties: ordered, ...(b.cold ? { requiredParties: offline } : {}) };
    const create = async (keyId?: string) => {
      const out = await runDkg(d.cluster, dkgReq, d.onRelay, keyId);
      // What the API will hand out must pass the same check a client runs (custos keys show --verify).
      verifyKeyAttestations(d.genesis, genesisHash(d.genesis), { keyId: out.keyId, scheme: b.scheme, threshold: b.threshold, parties: ordered, publicKey: out.publicKey, transcriptHash: out.attestations[0]?.transcriptHash ?? '', chainCode: (out.groupPublic as { chainCode?: string }).chainCode, requiredParties: dkgReq.requiredParties }, out.attestations);
      const row = d.store.insertKey({
        id: out.keyId, scheme: b.scheme, threshold: b.threshold, parties: JSON.stringify(ordered), public_key: out.publicKey,
        internal_key: out.groupPublic.internalKey ?? null, group_public: JSON.stringify(out.groupPublic), attestations: JSON.stringify(out.attestations),
      });
      recordAudit(d.store, d.audit, 'key.created', { key: out.keyId, scheme: b.scheme, threshold: b.threshold, parties: ordered, publicKey: out.publicKey, requiredParties: dkgReq.requiredParties ?? [] });
      keysCreated({ scheme: b.scheme });
      d.log.info('key.created', { key: out.keyId, scheme: b.scheme, threshold: b.threshold, cold: Boolean(b.cold) });
      d.onKeyCreated?.(out.keyId);
      return keyView(row);
    };
    if (offline.length === 0) {
      void reply.code(201);
      return create();
    }
    // Key generation with an offline node runs across the air gap (four round trips, each an
    // export and an import): the call answers at once with the job to follow.
    const keyId = randomUUID();
    const job = d.airgap.job('dkg', { keyId, scheme: b.scheme, threshold: b.threshold, parties: ordered, offline, cold: Boolean(b.cold) }, () => d.airgap.track(offline, 'dkg', () => create(keyId)));
    void reply.code(202);
    return { keyId, status: 'PENDING_OFFLINE', job: job.id, offline, hint: 'carry the bundles across the air gap: custos airgap export, then custos offline import on the offline machine, then custos airgap import' };
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

  app.post('/v1/keys/:id/sign', { schema: { params: S.idParam, body: S.signBody } }, async (req, reply) => {
    const keyId = (req.params as { id: string }).id;
    const key = d.store.getKey(keyId);
    if (!key) throw new NotFoundError('key', keyId);
    const idem = req.headers['idempotency-key'];
    if (Array.isArray(idem)) throw new ValidationError('one Idempotency-Key header at most', { code: 'request.bad_idempotency_key' });
    const out = await d.requests.submit(key, req.body as { request: unknown; signature: unknown }, idem);
    void reply.code(out.status);
    return out.body;
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
  app.get('/v1/audit/anchors', async () => {
    d.cluster.flushAnchors();
    return { anchors: d.store.anchors().map((a) => JSON.parse(a)) };
  });
  // The coordinator's own log (verify with `custos audit verify --party coordinator`).
  app.get('/v1/audit', { schema: { querystring: { type: 'object', additionalProperties: false, properties: { after: { type: 'string', pattern: '^[0-9]{1,15}$' }, format: { type: 'string', enum: ['jsonl', 'syslog'] } } } } }, async (req, reply) => {
    if (!d.audit) throw new NotFoundError('audit_log', 'coordinator');
    const q = req.query as { after?: string; format?: 'jsonl' | 'syslog' };
    void reply.type(q.format === 'syslog' ? 'text/plain; charset=utf-8' : 'application/x-ndjson');
    return q.format === 'syslog' ? d.audit.syslog(Number(q.after ?? 0)) : d.audit.jsonl(Number(q.after ?? 0));
  });

  registerRequestRoutes(app, d.requests);
  registerAirgapRoutes(app, { airgap: d.airgap, store: d.store, cluster: d.cluster, ecdsa: d.ecdsa, signing: d.signing });
  registerWebhookRoutes(app, d.webhooks.dispatcher, d.webhooks.store, { knownEvents: WEBHOOK_EVENTS });
  registerPolicyRoutes(app, { cluster: d.cluster, genesis: d.genesis, requests: d.requests, store: d.store, audit: d.audit, airgap: d.airgap });

  return app;
}
