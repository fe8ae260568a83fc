import type { FastifyInstance } from 'fastify';
import { REQUEST_STATES } from './request-store.ts';
import { viewOf, type RequestService } from './requests.ts';
import * as S from './schemas.ts';

/** The request lifecycle endpoints: read, list and filter, approve or reject, cancel. */
export function registerRequestRoutes(app: FastifyInstance, requests: RequestService): void {
  app.get('/v1/requests/:id', { schema: { params: S.idParam } }, async (req) => requests.view((req.params as { id: string }).id));

  app.get('/v1/requests', {
    schema: { querystring: { type: 'object', additionalProperties: false, properties: {
      status: { type: 'string', enum: [...REQUEST_STATES] }, keyId: { type: 'string', maxLength: 200 }, initiator: { type: 'string', maxLength: 100 },
      limit: { type: 'string', pattern: '^[1-9][0-9]{0,2}$' }, after: { type: 'string', maxLength: 40 },
    } } },
  }, async (req) => {
    const q = req.query as { status?: string; keyId?: string; initiator?: string; limit?: string; after?: string };
    const rows = requests.requests.list({ ...q, limit: Math.min(Number(q.limit ?? 100), 500) });
    return { requests: rows.map((r) => viewOf({ ...r, signature: null, signers: null, error: null }, r)) };
  });

  app.post('/v1/requests/:id/approvals', { schema: { params: S.idParam, body: { type: 'object' } } }, async (req) => requests.approve((req.params as { id: string }).id, req.body));

  app.post('/v1/requests/:id/cancel', {
    schema: { params: S.idParam, body: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', maxLength: 500 } } } },
  }, async (req) => requests.cancel((req.params as { id: string }).id, (req.body as { reason?: string } | undefined)?.reason));
}
