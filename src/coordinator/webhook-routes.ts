import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { toHex } from '../common/bytes.ts';
import { NotFoundError, ValidationError } from '../common/errors.ts';
import { secureRng, type Rng } from '../crypto/random.ts';
import type { WebhookDispatcher } from './webhooks.ts';
import { DELIVERY_STATUSES, deliveryView, webhookView, type DeliveryStatus, type WebhookStore } from './webhook-store.ts';

/** An event name ("request.signed") or '*' for every event. */
export const EVENT_NAME_PATTERN = '^([a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*|\\*)$';

const delivery = {
  type: 'object',
  required: ['id', 'webhookId', 'event', 'status', 'attempts', 'createdAt', 'updatedAt'],
  properties: {
    id: { type: 'string', description: 'also sent as the Custos-Delivery header and as "id" in the body; receivers deduplicate on it' },
    webhookId: { type: 'string' },
    event: { type: 'string' },
    status: { type: 'string', enum: [...DELIVERY_STATUSES] },
    attempts: { type: 'integer' },
    nextAttemptAt: { type: 'string', description: 'while pending: when the next attempt is due' },
    lastError: { type: 'string', description: 'why the last attempt failed: "http <status>", "timeout" or "network <code>"' },
    lastStatus: { type: 'integer', description: 'HTTP status of the last answer' },
    createdAt: { type: 'string' }, updatedAt: { type: 'string' },
  },
} as const;

const webhook = {
  type: 'object',
  required: ['id', 'url', 'events', 'createdAt', 'disabled'],
  properties: {
    id: { type: 'string' }, url: { type: 'string' }, events: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string' }, disabled: { type: 'boolean' },
  },
} as const;

/** Schemas of the webhook routes, for the OpenAPI document. */
export const webhookSchemas = {
  createBody: {
    type: 'object',
    additionalProperties: false,
    required: ['url', 'events'],
    properties: {
      url: { type: 'string', minLength: 1, maxLength: 2048, description: 'http or https URL that receives POSTs signed with Custos-Signature' },
      events: { type: 'array', minItems: 1, maxItems: 64, uniqueItems: true, items: { type: 'string', maxLength: 100, pattern: EVENT_NAME_PATTERN }, description: 'event names, or "*" for all' },
    },
  },
  created: {
    type: 'object',
    required: ['id', 'url', 'events', 'secret', 'createdAt'],
    properties: {
      id: { type: 'string' }, url: { type: 'string' }, events: { type: 'array', items: { type: 'string' } },
      secret: { type: 'string', description: 'HMAC key of Custos-Signature (32 random bytes, hex). Shown only in this answer' },
      createdAt: { type: 'string' },
    },
  },
  webhook,
  list: { type: 'object', required: ['webhooks'], properties: { webhooks: { type: 'array', items: webhook } } },
  delivery,
  deliveries: { type: 'object', required: ['deliveries'], properties: { deliveries: { type: 'array', items: delivery } } },
  idParam: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 100 } } },
  deliveriesQuery: {
    type: 'object',
    additionalProperties: false,
    properties: {
      status: { type: 'string', enum: [...DELIVERY_STATUSES] },
      limit: { type: 'string', pattern: '^(1000|[1-9][0-9]{0,2})$', description: '1..1000, default 100' },
    },
  },
} as const;

export type WebhookRouteOptions = {
  /** If given, subscriptions may name only these events (or '*'), so a typo is refused, not silent. */
  knownEvents?: readonly string[];
  rng?: Rng;
};

/**
 * The webhook API: subscribe (the secret is shown once), list, delete, inspect deliveries, and
 * resend one. Authentication is the app's (installTokenAuth), like every /v1 route.
 */
export function registerWebhookRoutes(app: FastifyInstance, d: WebhookDispatcher, store: WebhookStore, opts: WebhookRouteOptions = {}): void {
  const rng = opts.rng ?? secureRng;
  const S = webhookSchemas;

  app.post('/v1/webhooks', { schema: { body: S.createBody, response: { 201: S.created } } }, async (req, reply) => {
    const b = req.body as { url: string; events: string[] };
    const url = checkUrl(b.url);
    if (opts.knownEvents) {
      const unknown = b.events.filter((e) => e !== '*' && !opts.knownEvents!.includes(e));
      if (unknown.length) throw new ValidationError(`unknown events: ${unknown.join(', ')}`, { code: 'webhook.unknown_event', detail: { known: [...opts.knownEvents] } });
    }
    const secret = toHex(rng(32));
    const row = store.insertWebhook({ id: randomUUID(), url, events: b.events, secret, nowMs: d.now() });
    d.log.info('webhook.created', { webhook: row.id, events: b.events.join(',') });
    void reply.code(201);
    return { id: row.id, url: row.url, events: b.events, secret, createdAt: row.created_at };
  });

  app.get('/v1/webhooks', { schema: { response: { 200: S.list } } }, async () => ({ webhooks: store.listWebhooks().map(webhookView) }));

  app.delete('/v1/webhooks/:id', { schema: { params: S.idParam } }, async (req, reply) => {
    const id = (req.params as { id: string }).id;
    if (!store.deleteWebhook(id)) throw new NotFoundError('webhook', id);
    d.log.info('webhook.deleted', { webhook: id });
    void reply.code(204);
    return reply.send();
  });

  app.get('/v1/webhooks/:id/deliveries', { schema: { params: S.idParam, querystring: S.deliveriesQuery, response: { 200: S.deliveries } } }, async (req) => {
    const id = (req.params as { id: string }).id;
    const q = req.query as { status?: DeliveryStatus; limit?: string };
    if (!store.getWebhook(id)) throw new NotFoundError('webhook', id);
    return { deliveries: store.listDeliveries(id, { status: q.status, limit: q.limit === undefined ? 100 : Number(q.limit) }).map(deliveryView) };
  });

  app.post('/v1/webhooks/deliveries/:id/resend', { schema: { params: S.idParam, response: { 202: S.delivery } } }, async (req, reply) => {
    const out = d.resend((req.params as { id: string }).id);
    void reply.code(202);
    return out;
  });
}

/** Only absolute http(s) URLs without credentials (fetch refuses those, and they would be stored). */
function checkUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ValidationError('url is not a valid absolute URL', { code: 'webhook.bad_url' });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ValidationError('url must be http or https', { code: 'webhook.bad_url' });
  if (u.username !== '' || u.password !== '') throw new ValidationError('url must not carry credentials; put a token in the path or query instead', { code: 'webhook.bad_url' });
  return u.href;
}
