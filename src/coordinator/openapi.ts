import * as S from './schemas.ts';

/** OpenAPI 3.1 description of the public API, assembled from the same schemas the edge validates. */
export function openApiDocument() {
  const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });
  const errors = {
    400: problemResponse('malformed or invalid request'),
    404: problemResponse('no such resource'),
    413: problemResponse('request body too large'),
    422: problemResponse('Idempotency-Key reused with a different body'),
    502: problemResponse('a node misbehaved; `culprit` names it'),
    503: problemResponse('not enough nodes reachable'),
  };
  const json = (schema: unknown) => ({ 'application/json': { schema } });
  return {
    openapi: '3.1.0',
    info: { title: 'custos coordinator API', version: '1', description: 'Threshold signing with HSM-sealed shares. The coordinator is an untrusted relay: keys come with node attestations that clients can verify against the cluster genesis.' },
    servers: [{ url: '/' }],
    components: { schemas: { Problem: S.problem, Key: S.key, Attestation: S.attestation, SignResult: S.signResult, Request: S.request } },
    paths: {
      '/v1/keys': {
        post: { summary: 'Create a threshold key by distributed key generation', requestBody: { required: true, content: json(S.createKeyBody) }, responses: { 201: { description: 'key created', content: json({ $ref: '#/components/schemas/Key' }) }, ...errors } },
        get: { summary: 'List keys', parameters: [{ name: 'limit', in: 'query', schema: S.listQuery.properties.limit }, { name: 'after', in: 'query', schema: S.listQuery.properties.after }], responses: { 200: { description: 'keys', content: json({ type: 'object', properties: { keys: { type: 'array', items: { $ref: '#/components/schemas/Key' } } } }) }, ...errors } },
      },
      '/v1/keys/{id}': {
        get: { summary: 'One key with its attestations', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'the key', content: json({ $ref: '#/components/schemas/Key' }) }, ...errors } },
      },
      '/v1/keys/{id}/sign': {
        post: {
          summary: 'Sign synchronously (the drop-in call)',
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 }, description: 'a repeat with the same key and body returns the same result and never signs twice' },
          ],
          requestBody: { required: true, content: json(S.signBody) },
          responses: { 200: { description: 'signed', content: json({ $ref: '#/components/schemas/SignResult' }) }, 409: problemResponse('a request with this Idempotency-Key is in progress'), ...errors },
        },
      },
      '/v1/keys/{id}/xpub': {
        get: {
          summary: 'BIP32 extended public key of an ecdsa-secp256k1 key (attested chain code); with ?path=, the public key at that non-hardened path',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }, { name: 'path', in: 'query', required: false, schema: S.xpubQuery.properties.path }],
          responses: { 200: { description: 'the xpub', content: json(S.xpub) }, ...errors },
        },
      },
      '/v1/requests/{id}': {
        get: { summary: 'A sign request and its outcome', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'the request', content: json({ $ref: '#/components/schemas/Request' }) }, ...errors } },
      },
      '/healthz': { get: { summary: 'Node reachability', responses: { 200: { description: 'ok or degraded', content: json({ type: 'object' }) }, 503: { description: 'fewer reachable nodes than the smallest threshold' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      '/openapi.json': { get: { summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } } } },
    },
  };
}
