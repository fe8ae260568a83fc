import { REQUEST_STATES } from './request-store.ts';
import * as S from './schemas.ts';
import { webhookSchemas as W } from './webhook-routes.ts';

/**
 * Schemas that only the OpenAPI document needs: the routes below take `{type: 'object'}` at the
 * edge and leave the strict check to the one parser every node runs too (policy/sign-request.ts,
 * policy/signed-policy.ts), so these describe those parsers' input for clients and never validate.
 */
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const hex64 = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
const sig64 = { type: 'string', pattern: '^[0-9a-f]{128}$', description: 'P-256 r||s (low s) over SHA-256(digest), or Ed25519 over the digest' } as const;
const isoZ = { type: 'string', description: 'ISO 8601 UTC time (…Z)' } as const;

const approvalRequirement = {
  type: 'object',
  required: ['groups', 'timelockSeconds', 'expirySeconds'],
  properties: {
    groups: { type: 'array', items: { type: 'object', required: ['group', 'threshold'], properties: { group: { type: 'string' }, threshold: { type: 'integer', minimum: 1 } } }, description: 'every group must reach its threshold; each approver counts once' },
    timelockSeconds: { type: 'integer', description: "no node signs before this long after its own first sight of the request" },
    expirySeconds: { type: 'integer', description: "each node refuses the request this long after its own first sight of it" },
  },
} as const;

const airgapBundle = {
  type: 'object',
  properties: {
    party: { type: 'string' }, seq: { type: 'integer' }, kind: { type: 'string', enum: ['dkg', 'stage', 'sign', 'policy'] }, calls: { type: 'integer' },
    busy: { type: 'integer', description: 'sessions still computing on the online nodes when the bundle was sealed (their calls go in the next bundle); 0 when it is complete' },
    size: { type: 'integer' }, sha256: hex64, bundle: { type: 'string', description: 'base64 of the CBOR bundle (wire/bundle.ts)' },
  },
} as const;
const airgapJob = {
  type: 'object',
  properties: {
    id: { type: 'string' }, kind: { type: 'string', enum: ['dkg', 'stage'] }, state: { type: 'string', enum: ['waiting', 'done', 'failed'] },
    detail: { type: 'object' }, result: {}, error: { type: 'object', properties: { code: { type: 'string' }, detail: { type: 'string' } } }, createdAt: isoZ, updatedAt: isoZ,
  },
} as const;
const airgapKeyJob = { type: 'object', properties: { keyId: { type: 'string' }, status: { type: 'string', enum: ['PENDING_OFFLINE'] }, job: { type: 'string' }, offline: { type: 'array', items: { type: 'string' } }, hint: { type: 'string' } } } as const;

const requestView = {
  type: 'object',
  required: ['requestId', 'keyId', 'status', 'createdAt', 'updatedAt'],
  properties: {
    requestId: { type: 'string' },
    keyId: { type: 'string' },
    status: { type: 'string', enum: [...REQUEST_STATES] },
    requestDigest: { ...hex64, description: 'SHA-256 of canonical JSON {"domain":"custos/sign-request/v1","request": …}: what the initiator signed and every approval names' },
    initiator: { type: 'string' },
    approvals: { type: 'array', items: { type: 'object', required: ['approver', 'decision', 'expiresAt'], properties: { approver: { type: 'string' }, decision: { type: 'string', enum: ['approve', 'reject'] }, expiresAt: isoZ } } },
    requirement: { ...ref('ApprovalRequirement'), description: 'what the policy rule asks for (requests sent to approval only)' },
    notBefore: { ...isoZ, description: 'earliest signing time: the timelock, counted from the last node to see the request' },
    expiresAt: { ...isoZ, description: 'while not final: when the request expires, counted from the first node to see it' },
    reason: { type: 'string', description: 'why it is in this state (rule sent to approval, rejection, cancellation, expiry)' },
    signature: { type: 'string' },
    recoveryId: { type: 'integer', enum: [0, 1] },
    publicKey: { type: 'string' },
    presigned: { type: 'boolean' },
    signedTransaction: { type: 'string' },
    signers: { type: 'array', items: { type: 'string' } },
    error: ref('Problem'),
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;

const approvalBody = {
  type: 'object',
  additionalProperties: false,
  required: ['requestDigest', 'approver', 'decision', 'expiresAt', 'signature'],
  properties: {
    requestDigest: { ...hex64, description: "the request's digest (from its view); an approval of another digest is refused" },
    approver: { type: 'string', description: 'identity id holding the approver role' },
    decision: { type: 'string', enum: ['approve', 'reject'], description: 'one reject ends the request (REJECTED)' },
    expiresAt: { ...isoZ, description: 'the approval itself stops counting after this time' },
    signature: { ...sig64, description: 'by the approver over SHA-256(canonical JSON {"domain":"custos/approval/v1", requestDigest, approver, decision, expiresAt})' },
  },
} as const;

const policyDocument = {
  type: 'object',
  description: 'the custody policy (src/policy/document.ts; field by field in docs/policy.md). Rules are ordered, first match wins, default deny',
  required: ['version', 'identities', 'adminThreshold', 'assets', 'addressLists', 'groups', 'rules'],
  properties: {
    version: { type: 'integer', minimum: 1 },
    identities: { type: 'array', items: { type: 'object', required: ['id', 'roles', 'alg', 'publicKey'], properties: { id: { type: 'string' }, roles: { type: 'array', items: { type: 'string', enum: ['initiator', 'approver', 'admin', 'auditor'] } }, alg: { type: 'string', enum: ['p256', 'ed25519'] }, publicKey: { type: 'string' } } } },
    adminThreshold: { type: 'integer', minimum: 1 },
    assets: { type: 'array', items: { type: 'object' } },
    addressLists: { type: 'array', items: { type: 'object' } },
    groups: { type: 'array', items: { type: 'object' } },
    rules: { type: 'array', items: { type: 'object' } },
  },
} as const;

const policySignatures = {
  type: 'array',
  items: { type: 'object', additionalProperties: false, required: ['admin', 'signature'], properties: { admin: { type: 'string' }, signature: sig64 } },
  description: 'admin signatures over SHA-256(canonical JSON {"domain":"custos/policy/v1","cluster": genesis hash,"policy": …}); the quorum is the active policy\'s admins and adminThreshold (the genesis admins for version 1)',
} as const;

const signedPolicy = { type: 'object', additionalProperties: false, required: ['policy', 'signatures'], properties: { policy: ref('Policy'), signatures: policySignatures } } as const;

const nodeError = { type: 'object', required: ['error'], properties: { error: { type: 'object', properties: { code: { type: 'string' }, detail: { type: 'string' }, status: { type: 'integer' } } } } } as const;

const policyView = {
  type: 'object',
  required: ['version', 'policy', 'signatures', 'nodes'],
  properties: {
    version: { type: ['integer', 'null'], description: 'the newest version the coordinator carries; null before the first activation' },
    policy: { oneOf: [ref('Policy'), { type: 'null' }] },
    signatures: policySignatures,
    nodes: { type: 'object', description: 'per node id: the version it enforces, or why it did not answer', additionalProperties: { oneOf: [{ type: 'object', required: ['version'], properties: { version: { type: ['integer', 'null'] } } }, nodeError] } },
  },
} as const;

const policyActivation = {
  type: 'object',
  required: ['version', 'nodes'],
  properties: {
    version: { type: 'integer' },
    nodes: { type: 'object', description: 'per node id: activated (false: it already had this version) or its refusal', additionalProperties: { oneOf: [{ type: 'object', required: ['activated', 'version'], properties: { activated: { type: 'boolean' }, version: { type: 'integer' } } }, nodeError] } },
  },
} as const;

const decision = {
  type: 'object',
  required: ['decision', 'rule', 'reasons'],
  properties: {
    decision: { type: 'string', enum: ['allow', 'deny', 'approve'] },
    rule: { type: ['string', 'null'], description: 'the first matching rule; null when none matched (default deny)' },
    reasons: { type: 'array', items: { type: 'string' }, description: 'why each earlier rule did not match, then the verdict' },
    approvals: { ...ref('ApprovalRequirement'), description: 'approve only: what the rule asks for' },
  },
} as const;

const evaluateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['request'],
  properties: {
    request: { ...S.signBody.properties.request, description: 'a sign request as in the sign body; nothing is recorded or signed' },
    signature: { ...S.signBody.properties.signature, description: "optional: if given, the initiator's signature is checked too" },
  },
} as const;

const evaluateResult = {
  type: 'object',
  required: ['requestDigest', 'policyVersion', 'decision', 'rule', 'reasons', 'nodes'],
  properties: {
    requestDigest: hex64,
    policyVersion: { type: 'integer' },
    ...decision.properties,
    nodes: { type: 'array', description: 'each reachable party of the key evaluates on its own counters and clock', items: { type: 'object', required: ['node', 'policyVersion', 'decision'], properties: { node: { type: 'string' }, policyVersion: { type: 'integer' }, decision: ref('Decision') } } },
  },
} as const;

const auditAnchors = {
  type: 'object',
  required: ['anchors'],
  properties: {
    anchors: {
      type: 'array',
      description: 'per node, the latest signed (sequence, head) it handed out with a share; custos audit verify checks node logs against them',
      items: { type: 'object', required: ['party', 'seq', 'head', 'sig'], properties: { party: { type: 'string' }, seq: { type: 'integer' }, head: hex64, sig: { type: 'string', description: "P-256 by the node's identity key over canonical JSON {domain: custos/audit-anchor/v1, party, seq, head}" } } },
    },
  },
} as const;

const webhookEvent = {
  type: 'object',
  required: ['id', 'event', 'createdAt', 'data'],
  properties: {
    id: { type: 'string', description: 'the delivery id, also in the Custos-Delivery header: deduplicate on it (delivery is at least once)' },
    event: { type: 'string', description: 'key.created, request.pending_approval, request.approved, request.signed, request.rejected, request.failed, request.expired, request.cancelled' },
    createdAt: { type: 'string' },
    data: { type: 'object', description: 'request.*: the request view (RequestView); key.created: {keyId}' },
  },
} as const;

/**
 * OpenAPI 3.1 description of the public API: every route the coordinator serves (the test checks
 * this against the app's route table), the schemas the edge validates with, and bearer-token
 * security on everything but health, metrics and this document.
 */
export function openApiDocument() {
  const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
  const errors = {
    400: problemResponse('malformed or invalid request'),
    401: problemResponse('no API token, or an unknown or revoked one (auth.token_required, auth.token_invalid)'),
    404: problemResponse('no such resource'),
  };
  const json = (schema: unknown) => ({ 'application/json': { schema } });
  const ok = (description: string, schema: unknown) => ({ description, content: json(schema) });
  const idParam = (what: string, name = 'id') => ({ name, in: 'path', required: true, schema: S.idParam.properties.id, description: what });
  const query = (name: string, schema: unknown, description?: string) => ({ name, in: 'query', required: false, schema, ...(description ? { description } : {}) });
  const bearer = [{ bearerAuth: [] as string[] }];
  const open = [] as { bearerAuth: string[] }[];

  return {
    openapi: '3.1.0',
    info: {
      title: 'custos coordinator API',
      version: '1',
      description: 'Threshold signing with HSM-sealed shares. The coordinator is an untrusted relay: keys come with node attestations that clients can verify against the cluster genesis, '
        + 'and every sign request is signed by its initiator and checked against the admin-signed policy by every node itself. An API token only opens the front door.',
    },
    servers: [{ url: '/' }],
    security: bearer,
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API token (custos_<id>_<secret>) made by `custos tokens create --name N` against the coordinator\'s data directory; the demo cluster\'s is in $CUSTOS_HOME/credentials.json. It authorises nothing on its own: requests are signed by identities.' },
      },
      schemas: {
        Problem: S.problem,
        Key: S.key,
        Attestation: S.attestation,
        SignBody: S.signBody,
        SignResult: S.signResult,
        RequestView: requestView,
        ApprovalRequirement: approvalRequirement,
        ApprovalBody: approvalBody,
        Policy: policyDocument,
        SignedPolicy: signedPolicy,
        PolicyView: policyView,
        PolicyActivation: policyActivation,
        Decision: decision,
        EvaluateBody: evaluateBody,
        EvaluateResult: evaluateResult,
        Xpub: S.xpub,
        AuditAnchors: auditAnchors,
        WebhookCreateBody: W.createBody,
        WebhookCreated: W.created,
        Webhook: W.webhook,
        WebhookList: W.list,
        Delivery: W.delivery,
        DeliveryList: W.deliveries,
        WebhookEvent: webhookEvent,
      },
    },
    paths: {
      '/v1/keys': {
        post: { summary: 'Create a threshold key by distributed key generation', description: 'With an offline node among the parties, key generation runs across the air gap: 202 with the job to follow (GET /v1/airgap/jobs/{id}); carry the bundles with custos airgap export / custos offline import / custos airgap import.', security: bearer, requestBody: { required: true, content: json(S.createKeyBody) }, responses: { 201: ok('key created', ref('Key')), 202: ok('key generation waits on the offline node', airgapKeyJob), ...errors, 502: problemResponse('a node misbehaved; `culprit` names it'), 503: problemResponse('not enough nodes reachable') } },
        get: { summary: 'List keys', security: bearer, parameters: [query('limit', S.listQuery.properties.limit), query('after', S.listQuery.properties.after)], responses: { 200: ok('keys', { type: 'object', properties: { keys: { type: 'array', items: ref('Key') } } }), ...errors } },
      },
      '/v1/keys/{id}': {
        get: { summary: 'One key with its attestations', security: bearer, parameters: [idParam('key id')], responses: { 200: ok('the key', ref('Key')), ...errors } },
      },
      '/v1/keys/{id}/sign': {
        post: {
          summary: 'Submit an initiator-signed sign request (the drop-in call)',
          description: 'Every party of the key checks the initiator\'s signature, decodes the payload, matches it against the intent and evaluates the policy on its own. '
            + 'Allowed: signed synchronously (200). Sent to approval: 202 with the request view; approve with POST /v1/requests/{id}/approvals. Denied: 403. '
            + 'A cold key (an offline node in every quorum): 202 with status SIGNING; the request goes into the next air-gap bundle and completes when the answer is imported.',
          security: bearer,
          parameters: [
            idParam('key id'),
            { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 }, description: 'a repeat with the same key and body returns the same result (or the request\'s current state) and never signs twice' },
          ],
          requestBody: { required: true, content: json(ref('SignBody')) },
          responses: {
            200: ok('signed', ref('SignResult')),
            202: ok('accepted, waiting for approvals (status PENDING_APPROVAL); a replay by Idempotency-Key answers the current state', ref('RequestView')),
            ...errors,
            400: problemResponse('malformed body (request.schema; request.invalid with `context.path`), request.wrong_key, request.bad_idempotency_key, payload.undecodable, intent.mismatch, sign.bad_payload, derivation.unsupported'),
            403: problemResponse('refused by policy or authorization: policy.denied (`context.reasons`, `context.rule`), policy.none, policy.velocity_unsound, request.bad_signature, request.not_initiator, request.unknown_initiator, intent.mismatch (asset)'),
            409: problemResponse('a request with this Idempotency-Key is still being signed'),
            413: problemResponse('request body too large'),
            422: problemResponse('Idempotency-Key reused with a different body'),
            502: problemResponse('a node misbehaved; `culprit` names it'),
            503: problemResponse('fewer parties of the key reachable than its threshold'),
          },
        },
      },
      '/v1/keys/{id}/stage': {
        post: {
          summary: 'Stage presignatures (DKLs23) or nonce commitments (FROST) for a quorum with an offline node',
          description: 'Runs in the background; every session waits on the same crossings, so staging takes three round trips (DKLs23) or one (FROST) whatever the count. Quorum: default, one with the offline node.',
          security: bearer, parameters: [idParam('key id')],
          requestBody: { required: true, content: json({ type: 'object', required: ['count'], properties: { count: { type: 'integer', minimum: 1, maximum: 10000 }, quorum: { type: 'array', items: { type: 'string' } } } }) },
          responses: { 202: ok('staging started', { type: 'object', properties: { job: { type: 'string' }, keyId: { type: 'string' }, quorum: { type: 'array', items: { type: 'string' } }, count: { type: 'integer' }, sessions: { type: 'integer' } } }), ...errors },
        },
      },
      '/v1/airgap': {
        get: { summary: 'Offline nodes: calls queued, answers awaited, live flows, stream sequence numbers; recent jobs', security: bearer, responses: { 200: ok('status', { type: 'object' }), ...errors } },
      },
      '/v1/airgap/jobs/{id}': {
        get: { summary: 'A key generation, staging or policy job waiting on an offline node (kept while the coordinator runs)', security: bearer, parameters: [idParam('job id')], responses: { 200: ok('the job', airgapJob), ...errors } },
      },
      '/v1/airgap/export': {
        post: {
          summary: 'Seal the next bundle for an offline node',
          description: 'Waits up to waitSeconds (default 60) until every session that needs the offline node waits on it, then seals all its queued calls into one bundle signed by the coordinator, with the online nodes\' time attestations.',
          security: bearer,
          requestBody: { required: false, content: json({ type: 'object', properties: { party: { type: 'string' }, waitSeconds: { type: 'integer', minimum: 0, maximum: 600 } } }) },
          responses: { 200: ok('the bundle', airgapBundle), ...errors, 409: problemResponse('airgap.nothing_to_export: nothing waits on the offline node') },
        },
      },
      '/v1/airgap/bundles/{party}/{seq}': {
        get: { summary: 'A bundle sent earlier, to carry it again', security: bearer, parameters: [idParam('offline node id', 'party'), idParam('sequence number', 'seq')], responses: { 200: ok('the bundle', airgapBundle), ...errors } },
      },
      '/v1/airgap/import': {
        post: {
          summary: "Hand over an offline node's answer bundle; the sessions waiting on it resume",
          security: bearer,
          requestBody: { required: true, content: json({ type: 'object', required: ['bundle'], properties: { bundle: { type: 'string', description: 'base64' } } }) },
          responses: { 200: ok('imported', { type: 'object', properties: { party: { type: 'string' }, seq: { type: 'integer' }, answered: { type: 'integer' }, unmatched: { type: 'integer' } } }), ...errors, 400: problemResponse('bundle.truncated, bundle.malformed, bundle.wrong_version, bundle.wrong_kind'), 401: problemResponse('bundle.bad_signature, bundle.unknown_sender, bundle.misaddressed, bundle.wrong_cluster, bundle.replayed, bundle.out_of_order') },
        },
      },
      '/v1/keys/{id}/xpub': {
        get: {
          summary: 'BIP32 extended public key of an ecdsa-secp256k1 key (attested chain code); with ?path=, the public key at that non-hardened path',
          security: bearer,
          parameters: [idParam('key id'), query('path', S.xpubQuery.properties.path, 'non-hardened BIP32 path, e.g. m/44/60/0/0/7')],
          responses: { 200: ok('the xpub', ref('Xpub')), ...errors },
        },
      },
      '/v1/requests': {
        get: {
          summary: 'List sign requests, oldest first, with filters (the list omits signatures and errors: GET one request for its outcome)',
          security: bearer,
          parameters: [
            query('status', { type: 'string', enum: [...REQUEST_STATES] }),
            query('keyId', { type: 'string', maxLength: 200 }),
            query('initiator', { type: 'string', maxLength: 100 }),
            query('limit', { type: 'string', pattern: '^[1-9][0-9]{0,2}$' }, '1..999, default 100, at most 500 returned'),
            query('after', { type: 'string', maxLength: 40 }, 'a createdAt time: only requests created after it (the next page)'),
          ],
          responses: { 200: ok('requests', { type: 'object', required: ['requests'], properties: { requests: { type: 'array', items: ref('RequestView') } } }), ...errors },
        },
      },
      '/v1/requests/{id}': {
        get: { summary: 'A sign request: its state, approvals, time limits and outcome', security: bearer, parameters: [idParam('request id')], responses: { 200: ok('the request', ref('RequestView')), ...errors } },
      },
      '/v1/requests/{id}/approvals': {
        post: {
          summary: 'Add an approver\'s signed approval (or rejection)',
          description: 'The coordinator checks it as the nodes will and stores it; the request becomes APPROVED once every group has its threshold of distinct approvers, and is signed once the timelock has passed on every node. A reject ends it (REJECTED).',
          security: bearer,
          parameters: [idParam('request id')],
          requestBody: { required: true, content: json(ref('ApprovalBody')) },
          responses: {
            200: ok('the request after this approval', ref('RequestView')),
            ...errors,
            400: problemResponse('malformed approval (request.invalid), or it names another request digest (approval.wrong_request)'),
            403: problemResponse('approval.not_approver, approval.bad_signature, approval.expired'),
            409: problemResponse('the request is not waiting for approvals (request.not_pending)'),
          },
        },
      },
      '/v1/requests/{id}/cancel': {
        post: {
          summary: 'Cancel a request that is not yet signing',
          description: 'Only the coordinator\'s state changes: nodes do not learn of a cancellation (see docs/policy.md, known limits).',
          security: bearer,
          parameters: [idParam('request id')],
          requestBody: { required: false, content: json({ type: 'object', additionalProperties: false, properties: { reason: { type: 'string', maxLength: 500 } } }) },
          responses: { 200: ok('cancelled', ref('RequestView')), ...errors, 409: problemResponse('the request is signing or final (request.not_cancellable)') },
        },
      },
      '/v1/policy': {
        get: { summary: 'The active policy, its admin signatures, and the version each node enforces', security: bearer, responses: { 200: ok('the policy', ref('PolicyView')), ...errors } },
        post: {
          summary: 'Relay an admin-signed policy version to every node; each verifies the admin quorum itself',
          security: bearer,
          requestBody: { required: true, content: json(ref('SignedPolicy')) },
          responses: {
            200: ok('activated on at least one node; per-node outcome', ref('PolicyActivation')),
            ...errors,
            400: problemResponse('the document does not parse (policy.invalid, `context.path`)'),
            403: problemResponse('every node refused: policy.unsigned, policy.under_signed, policy.bad_signature, policy.rollback, policy.velocity_unsound, policy.no_admins'),
            503: problemResponse('no node reachable'),
          },
        },
      },
      '/v1/policy/evaluate': {
        post: {
          summary: 'Dry run: what the active policy would decide for a request, on each party of its key',
          security: bearer,
          requestBody: { required: true, content: json(ref('EvaluateBody')) },
          responses: { 200: ok('the decision', ref('EvaluateResult')), ...errors, 403: problemResponse('policy.none, or the optional signature is not the initiator\'s') },
        },
      },
      '/v1/webhooks': {
        post: { summary: 'Subscribe a URL to events; the HMAC secret is shown only in this answer', security: bearer, requestBody: { required: true, content: json(ref('WebhookCreateBody')) }, responses: { 201: ok('subscribed', ref('WebhookCreated')), ...errors, 400: problemResponse('webhook.bad_url, webhook.unknown_event') } },
        get: { summary: 'List webhook subscriptions (without secrets)', security: bearer, responses: { 200: ok('webhooks', ref('WebhookList')), ...errors } },
      },
      '/v1/webhooks/{id}': {
        delete: { summary: 'Delete a subscription', security: bearer, parameters: [{ ...idParam('webhook id'), schema: W.idParam.properties.id }], responses: { 204: { description: 'deleted' }, ...errors } },
      },
      '/v1/webhooks/{id}/deliveries': {
        get: {
          summary: 'Deliveries of one webhook, with their attempts and last error',
          security: bearer,
          parameters: [{ ...idParam('webhook id'), schema: W.idParam.properties.id }, query('status', W.deliveriesQuery.properties.status), query('limit', W.deliveriesQuery.properties.limit)],
          responses: { 200: ok('deliveries', ref('DeliveryList')), ...errors },
        },
      },
      '/v1/webhooks/deliveries/{id}/resend': {
        post: { summary: 'Send a delivery again now (also a delivered or failed one)', security: bearer, parameters: [{ ...idParam('delivery id'), schema: W.idParam.properties.id }], responses: { 202: ok('queued', ref('Delivery')), ...errors } },
      },
      '/v1/audit': {
        get: {
          summary: "The coordinator's own audit log: hash-chained entries signed by its identity key",
          security: bearer,
          parameters: [
            query('after', { type: 'string', pattern: '^[0-9]{1,15}$' }, 'only entries with a higher sequence number'),
            query('format', { type: 'string', enum: ['jsonl', 'syslog'] }, 'jsonl (default): one JSON entry per line; syslog: RFC 5424 lines for a SIEM'),
          ],
          responses: {
            200: { description: 'the entries', content: { 'application/x-ndjson': { schema: { type: 'string' } }, 'text/plain': { schema: { type: 'string' } } } },
            ...errors,
            404: problemResponse('this coordinator keeps no audit log'),
          },
        },
      },
      '/v1/audit/anchors': {
        get: { summary: 'The latest signed audit anchor of each node', security: bearer, responses: { 200: ok('anchors', ref('AuditAnchors')), ...errors } },
      },
      '/healthz': { get: { summary: 'Node reachability', security: open, responses: { 200: ok('ok or degraded', { type: 'object' }), 503: { description: 'fewer reachable nodes than the smallest threshold' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics', security: open, responses: { 200: { description: 'text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      '/openapi.json': { get: { summary: 'This document', security: open, responses: { 200: ok('OpenAPI 3.1', { type: 'object' }) } } },
    },
    webhooks: {
      event: {
        post: {
          summary: 'An event, POSTed to each subscribed URL',
          description: 'Headers: Custos-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>; Custos-Event; Custos-Delivery. '
            + 'Answer 2xx to acknowledge; anything else is retried after 1 s, 2 s, 4 s, … (doubling, at most 1 h) up to 8 attempts.',
          parameters: [
            { name: 'Custos-Signature', in: 'header', required: true, schema: { type: 'string' } },
            { name: 'Custos-Event', in: 'header', required: true, schema: { type: 'string' } },
            { name: 'Custos-Delivery', in: 'header', required: true, schema: { type: 'string' } },
          ],
          requestBody: { required: true, content: json(ref('WebhookEvent')) },
          responses: { 200: { description: 'received (any 2xx)' } },
        },
      },
    },
  };
}
