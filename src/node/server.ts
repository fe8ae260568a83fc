import Fastify, { type FastifyInstance } from 'fastify';
import { installProblemHandlers, serverOptions } from '../common/http.ts';
import type { Logger } from '../common/logger.ts';
import { SCHEMES } from '../common/schemes.ts';
import type { NodeService } from './service.ts';

/**
 * The node's HTTP face, reached only by the coordinator (which is not trusted: every body is
 * schema-checked here and every envelope verified by the service). Loopback by default.
 */
const id = { type: 'string', minLength: 1, maxLength: 200 } as const;
const envelopes = { type: 'array', maxItems: 16, items: { type: 'object' } } as const;

export function buildNodeServer(svc: NodeService, log: Logger, opts: { bodyLimit?: number } = {}): FastifyInstance {
  // DKLs23 moves tens of KB per pair and presignature, and a 10-party ECDSA key generation about
  // 4 MB of base-OT messages per round: the limit leaves room for that, not for arbitrary bodies.
  const app = Fastify(serverOptions(opts.bodyLimit ?? 32 * 1024 * 1024));
  installProblemHandlers(app, log);

  app.get('/v1/info', async () => svc.info());
  // The node's audit log as JSONL (verify with `custos audit verify`) or RFC 5424 syslog lines.
  app.get('/v1/audit', { schema: { querystring: { type: 'object', additionalProperties: false, properties: { after: { type: 'string', pattern: '^[0-9]{1,15}$' }, format: { type: 'string', enum: ['jsonl', 'syslog'] } } } } }, async (req, reply) => {
    const q = req.query as { after?: string; format?: 'jsonl' | 'syslog' };
    const after = Number(q.after ?? 0);
    if (q.format === 'syslog') {
      void reply.type('text/plain; charset=utf-8');
      return svc.audit.syslog(after);
    }
    void reply.type('application/x-ndjson');
    return svc.audit.jsonl(after);
  });
  app.get('/v1/keys', async () => ({ keys: svc.listKeys() }));
  app.get('/v1/keys/:id/public', { schema: { params: { type: 'object', properties: { id } } } }, async (req) => svc.keyPublic((req.params as { id: string }).id));

  app.post('/v1/dkg/round1', {
    schema: { body: { type: 'object', additionalProperties: false, required: ['keyId', 'sessionId', 'scheme', 'threshold', 'parties'], properties: {
      keyId: id, sessionId: id, scheme: { type: 'string', enum: [...SCHEMES] }, threshold: { type: 'integer', minimum: 1, maximum: 10 },
      parties: { type: 'array', minItems: 2, maxItems: 10, items: id }, requiredParties: { type: 'array', maxItems: 9, items: id },
    } } },
  }, async (req) => svc.dkgRound1(req.body as Parameters<NodeService['dkgRound1']>[0]));

  for (const [path, fn] of [['round2', 'dkgRound2'], ['finish', 'dkgFinish'], ['confirm', 'dkgConfirm']] as const) {
    app.post(`/v1/dkg/${path}`, {
      schema: { body: { type: 'object', additionalProperties: false, required: ['sessionId', 'messages'], properties: { sessionId: id, messages: envelopes } } },
    }, async (req) => {
      const b = req.body as { sessionId: string; messages: unknown };
      return svc[fn](b.sessionId, b.messages);
    });
  }

  app.post('/v1/nonces', {
    schema: { body: { type: 'object', additionalProperties: false, required: ['keyId', 'quorum', 'count'], properties: {
      keyId: id, quorum: { type: 'array', minItems: 1, maxItems: 10, items: id }, count: { type: 'integer', minimum: 1, maximum: 1000 },
    } } },
  }, async (req) => {
    const b = req.body as { keyId: string; quorum: string[]; count: number };
    return { commitments: svc.generateNonces(b.keyId, b.quorum, b.count) };
  });

  app.post('/v1/sign/reserve', {
    schema: { body: { type: 'object', additionalProperties: false, required: ['sessionId', 'keyId', 'message', 'commitments', 'authorization'], properties: {
      sessionId: id, keyId: id, message: { type: 'string', maxLength: 2 * 1024 * 1024 }, commitments: { type: 'array', minItems: 1, maxItems: 10, items: { type: 'object' } },
      authorization: { type: 'object' },
    } } },
  }, async (req) => svc.signReserve(req.body as Parameters<NodeService['signReserve']>[0]));

  app.post('/v1/sign/share', {
    schema: { body: { type: 'object', additionalProperties: false, required: ['sessionId', 'receipts'], properties: { sessionId: id, receipts: envelopes, peerAnchors: { type: 'array', maxItems: 16 } } } },
  }, async (req) => svc.signShare(req.body as Parameters<NodeService['signShare']>[0]));

  const quorum = { type: 'array', minItems: 2, maxItems: 10, items: id } as const;
  const bulk = { type: 'array', maxItems: 32, items: { type: 'object' } } as const;
  app.post('/v1/presign/round1', {
    schema: { body: { type: 'object', additionalProperties: false, required: ['sessionId', 'keyId', 'quorum', 'presignIds'], properties: {
      sessionId: id, keyId: id, quorum, presignIds: { type: 'array', minItems: 1, maxItems: 64, items: id },
    } } },
  }, async (req) => svc.ecdsa.presignRound1(req.body as Parameters<NodeService['ecdsa']['presignRound1']>[0]));
  for (const [path, fn] of [['round2', 'presignRound2'], ['round3', 'presignRound3']] as const) {
    app.post(`/v1/presign/${path}`, {
      schema: { body: { type: 'object', additionalProperties: false, required: ['sessionId', 'messages'], properties: { sessionId: id, messages: bulk } } },
    }, async (req) => svc.ecdsa[fn](req.body as { sessionId: string; messages: unknown }));
  }
  app.post('/v1/sign/ecdsa', {
    schema: { body: { type: 'object', additionalProperties: false, required: ['keyId', 'presignId', 'quorum', 'authorization'], properties: {
      keyId: id, presignId: id, quorum, authorization: { type: 'object' }, peerAnchors: { type: 'array', maxItems: 16 },
    } } },
  }, async (req) => svc.ecdsa.sign(req.body as Parameters<NodeService['ecdsa']['sign']>[0]));

  // A signed statement of this node's clock for one air-gap bundle (its content digest), so the
  // offline node, which has no trusted clock, can run timelocks and expiries (time-attestation.ts).
  app.post('/v1/time/attest', {
    schema: { body: { type: 'object', additionalProperties: false, required: ['bundle'], properties: { bundle: { type: 'string', pattern: '^[0-9a-f]{64}$' } } } },
  }, async (req) => svc.attestTime((req.body as { bundle: string }).bundle));

  // Policy: the active version (as admins signed it), activation of a new one, a request's first
  // sight (registration, where its timelock starts on this node's clock) and the dry run.
  app.get('/v1/policy', async () => svc.policyView());
  app.post('/v1/policy', { schema: { body: { type: 'object' } } }, async (req) => svc.policy.activate(req.body));
  app.post('/v1/requests/register', {
    schema: { body: { type: 'object', additionalProperties: false, required: ['authorization'], properties: { authorization: { type: 'object' } } } },
  }, async (req) => svc.registerRequest((req.body as { authorization: { request?: { keyId?: unknown } } }).authorization));
  app.post('/v1/policy/evaluate', {
    schema: { body: { type: 'object', additionalProperties: false, required: ['request'], properties: { request: { type: 'object' }, signature: { type: 'string' } } } },
  }, async (req) => svc.dryRun(req.body as { request: { keyId?: unknown }; signature?: string }));

  return app;
}
