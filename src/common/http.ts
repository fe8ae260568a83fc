import type { Server } from 'node:http';
import type { FastifyError, FastifyHttpOptions, FastifyInstance } from 'fastify';
import { CustosError, ValidationError } from './errors.ts';
import { problemOf, PROBLEM_CONTENT_TYPE } from './problem.ts';
import type { Logger } from './logger.ts';

/**
 * Every custos HTTP server answers errors the same way: application/problem+json with a stable
 * code. Client mistakes (bad JSON, schema violations, oversized bodies, unknown routes) are 4xx;
 * only our own faults are 5xx, and those never carry internals.
 */
export function installProblemHandlers(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((err: FastifyError | CustosError | Error, req, reply) => {
    let e: unknown = err;
    const fe = err as FastifyError;
    if (!(err instanceof CustosError)) {
      if (fe.validation) {
        e = new ValidationError(`request ${fe.validationContext ?? 'body'} ${fe.message.replace(/^(body|querystring|params|headers)\s*/, '')}`, { code: 'request.schema' });
      } else if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        e = new ValidationError('request body is too large', { code: 'request.too_large', status: 413 });
      } else if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
        e = new ValidationError('content type must be application/json', { code: 'request.media_type', status: 415 });
      } else if (fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError || (typeof fe.statusCode === 'number' && fe.statusCode === 400)) {
        e = new ValidationError('request body is not valid JSON', { code: 'request.bad_json' });
      } else if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
        e = new ValidationError(fe.message.slice(0, 200), { code: 'request.invalid', status: fe.statusCode });
      }
    }
    const p = problemOf(e);
    if (p.status >= 500) log.error('http.error', { method: req.method, url: req.url.slice(0, 200), code: p.code, culprit: p.culprit ?? null, detail: p.detail });
    void reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);
  });
  app.setNotFoundHandler((req, reply) => {
    const p = problemOf(new CustosError('route.not_found', `no route ${req.method} ${req.url.split('?')[0].slice(0, 200)}`, { status: 404 }));
    void reply.code(404).type(PROBLEM_CONTENT_TYPE).send(p);
  });
}

/** Starts listening and returns the URL actually bound (port 0 = chosen by the OS). */
export async function listenUrl(app: FastifyInstance, host: string, port: number): Promise<string> {
  await app.listen({ host, port });
  const addr = app.server.address();
  return `http://${host}:${typeof addr === 'object' && addr ? addr.port : port}`;
}

/**
 * Options every custos server is built with: no type coercion (a "2" is not a 2), a body limit,
 * and framework-level errors (malformed URL, over-long parameter) as problem+json too.
 */
export function serverOptions(bodyLimit: number): FastifyHttpOptions<Server> {
  return {
    logger: false,
    bodyLimit,
    routerOptions: { maxParamLength: 200 },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    frameworkErrors: (err, _req, reply) => {
      const status = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 400;
      const p = problemOf(new ValidationError(`malformed request: ${err.message.slice(0, 200)}`, { code: 'request.malformed', status }));
      const r = reply as unknown as { code: (n: number) => { type: (t: string) => { send: (b: unknown) => void } } };
      r.code(status).type(PROBLEM_CONTENT_TYPE).send(p);
    },
  };
}
