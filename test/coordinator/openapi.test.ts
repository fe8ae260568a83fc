import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildApi, type ApiDeps } from '../../src/coordinator/api.ts';
import { Metrics } from '../../src/coordinator/metrics.ts';
import { jsonLogger } from '../../src/common/logger.ts';
import { openApiDocument } from '../../src/coordinator/openapi.ts';

type Operation = { security?: Record<string, string[]>[]; responses: Record<string, unknown>; requestBody?: { content: Record<string, { schema: unknown }> } };
type Doc = { openapi: string; security?: Record<string, string[]>[]; components: { securitySchemes: Record<string, { type: string; scheme?: string }>; schemas: Record<string, unknown> }; paths: Record<string, Record<string, Operation>> };

const doc = openApiDocument() as unknown as Doc;

/** Every route the coordinator serves (src/coordinator/api.ts and the route files it registers). */
const PROTECTED: [string, string][] = [
  ['post', '/v1/keys'], ['get', '/v1/keys'], ['get', '/v1/keys/{id}'], ['post', '/v1/keys/{id}/sign'], ['get', '/v1/keys/{id}/xpub'],
  ['get', '/v1/requests'], ['get', '/v1/requests/{id}'], ['post', '/v1/requests/{id}/approvals'], ['post', '/v1/requests/{id}/cancel'],
  ['get', '/v1/policy'], ['post', '/v1/policy'], ['post', '/v1/policy/evaluate'],
  ['post', '/v1/webhooks'], ['get', '/v1/webhooks'], ['delete', '/v1/webhooks/{id}'], ['get', '/v1/webhooks/{id}/deliveries'], ['post', '/v1/webhooks/deliveries/{id}/resend'],
  ['get', '/v1/audit'], ['get', '/v1/audit/anchors'],
  ['post', '/v1/keys/{id}/stage'], ['get', '/v1/airgap'], ['get', '/v1/airgap/jobs/{id}'], ['post', '/v1/airgap/export'], ['get', '/v1/airgap/bundles/{party}/{seq}'], ['post', '/v1/airgap/import'],
];
const OPEN: [string, string][] = [['get', '/healthz'], ['get', '/metrics'], ['get', '/openapi.json']];

/** The security requirement that applies to an operation: its own, else the document's. */
const effective = (op: Operation) => op.security ?? doc.security ?? [];

test('OpenAPI 3.1 with a bearer security scheme', () => {
  assert.equal(doc.openapi, '3.1.0');
  assert.deepEqual(doc.components.securitySchemes.bearerAuth, { ...doc.components.securitySchemes.bearerAuth, type: 'http', scheme: 'bearer' });
});

/**
 * The routes the real app registers, read from Fastify's route tree (printRoutes nests a route
 * under its longest registered prefix, so a line's path is its parent's plus its own segment).
 * Only registration runs, so the dependencies are stubs that no handler ever touches.
 */
async function servedRoutes(): Promise<string[]> {
  const deps = { genesis: { nodes: [] }, metrics: new Metrics(), log: jsonLogger('test', () => {}, true), requests: {}, webhooks: {}, tokens: {} } as unknown as ApiDeps;
  const app = buildApi(deps);
  await app.ready();
  const tree = app.printRoutes({ commonPrefix: false });
  await app.close();
  const stack: { col: number; path: string }[] = [];
  const out: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([^/]*)(\/\S*) \(([A-Z, ]+)\)$/.exec(line);
    if (!m) continue;
    const col = m[1].length;
    while (stack.length && stack[stack.length - 1].col >= col) stack.pop();
    const path = (stack.length ? stack[stack.length - 1].path : '') + m[2];
    stack.push({ col, path });
    for (const method of m[3].split(', ')) if (method !== 'HEAD') out.push(`${method.toLowerCase()} ${path.replace(/:(\w+)/g, '{$1}')}`);
  }
  return out.sort();
}

test('every route the coordinator serves is documented, and nothing else', async () => {
  for (const [method, path] of [...PROTECTED, ...OPEN]) assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is missing`);
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)).sort();
  assert.deepEqual(documented, [...PROTECTED, ...OPEN].map(([m, p]) => `${m} ${p}`).sort());
  assert.deepEqual(await servedRoutes(), documented, 'the document and the routes the app registers differ');
});

test('protected operations need the bearer token; health, metrics and this document do not', () => {
  for (const [method, path] of PROTECTED) {
    const sec = effective(doc.paths[path][method]);
    assert.ok(sec.some((req) => 'bearerAuth' in req), `${method.toUpperCase()} ${path} must require bearerAuth`);
    assert.ok(doc.paths[path][method].responses['401'], `${method.toUpperCase()} ${path} must document 401`);
  }
  for (const [method, path] of OPEN) assert.deepEqual(effective(doc.paths[path][method]), [], `${method.toUpperCase()} ${path} must be open`);
});

test('sign documents 200 (signed), 202 (pending approval) and 403 (policy refusal)', () => {
  const sign = doc.paths['/v1/keys/{id}/sign'].post;
  for (const s of ['200', '202', '403']) assert.ok(sign.responses[s], `sign ${s}`);
  const body = doc.components.schemas.SignBody as { required: string[] };
  assert.deepEqual(body.required, ['request', 'signature']);
  const result = doc.components.schemas.SignResult as { properties: Record<string, unknown> };
  assert.ok(result.properties.status && result.properties.signedTransaction);
  const view = doc.components.schemas.RequestView as { properties: { status: { enum: string[] } } };
  assert.ok(view.properties.status.enum.includes('PENDING_APPROVAL'));
});

test('every $ref resolves inside the document', () => {
  const refs: string[] = [];
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) { x.forEach(walk); return; }
    if (typeof x !== 'object' || x === null) return;
    for (const [k, v] of Object.entries(x)) {
      if (k === '$ref') refs.push(v as string);
      else walk(v);
    }
  };
  walk(doc);
  assert.ok(refs.length > 20, 'the document uses references');
  for (const r of new Set(refs)) {
    assert.match(r, /^#\//, `${r} is not a local reference`);
    let at: unknown = doc;
    for (const part of r.slice(2).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))) {
      at = (at as Record<string, unknown> | undefined)?.[part];
    }
    assert.ok(at !== undefined && typeof at === 'object', `${r} does not resolve`);
  }
});

test('the document is plain JSON (what GET /openapi.json serves)', () => {
  assert.deepEqual(JSON.parse(JSON.stringify(doc)), doc);
});
