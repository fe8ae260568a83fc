import { HEX_BYTES } from '../common/api-schemas.ts';
import { PAYLOAD_TYPES } from '../chains/payload.ts';
import { SCHEMES } from '../common/schemes.ts';

/**
 * Request and response schemas of the public REST API: the edge validates with them and the
 * OpenAPI document (/openapi.json) is built from them, so the two cannot drift apart.
 */
const nodeId = { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,31}$' } as const;

export const problem = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' },
    code: { type: 'string', description: 'stable machine-readable error code' },
    culprit: { type: 'string', description: 'the party to blame: a node id, "coordinator" or "client"' },
    context: { type: 'object' },
  },
} as const;

export const attestation = {
  type: 'object',
  required: ['node', 'keyId', 'scheme', 'threshold', 'parties', 'publicKey', 'transcriptHash', 'signature'],
  properties: {
    node: { type: 'string' }, keyId: { type: 'string' }, scheme: { type: 'string' }, threshold: { type: 'integer' },
    parties: { type: 'array', items: { type: 'string' } }, publicKey: { type: 'string' }, transcriptHash: { type: 'string' },
    chainCode: { type: 'string', description: 'ecdsa-secp256k1 only: the attested BIP32 chain code' },
    requiredParties: { type: 'array', items: { type: 'string' }, description: 'a cold key only: the parties every quorum must include' },
    signature: { type: 'string', description: 'ECDSA P-256 by the node identity key over the canonical attestation' },
  },
} as const;

export const key = {
  type: 'object',
  required: ['id', 'scheme', 'threshold', 'parties', 'publicKey', 'attestations', 'createdAt'],
  properties: {
    id: { type: 'string' },
    scheme: { type: 'string', enum: [...SCHEMES] },
    threshold: { type: 'integer' },
    parties: { type: 'array', items: { type: 'string' } },
    publicKey: { type: 'string', description: 'hex: 32-byte Ed25519, 33-byte compressed secp256k1 (frost-secp256k1, ecdsa-secp256k1), or 32-byte x-only BIP86 output key for bip340' },
    internalKey: { type: 'string', description: 'bip340 only: x-only internal key before the BIP86 tweak' },
    chainCode: { type: 'string', description: 'ecdsa-secp256k1 only: the jointly generated BIP32 chain code (32 bytes hex), attested by every party' },
    requiredParties: { type: 'array', items: { type: 'string' }, description: 'a cold key only: the offline party (or parties) every signing quorum must include; attested by every party, enforced by every node' },
    attestations: { type: 'array', items: attestation },
    createdAt: { type: 'string' },
  },
} as const;

export const createKeyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['scheme', 'threshold'],
  properties: {
    scheme: { type: 'string', enum: [...SCHEMES] },
    threshold: { type: 'integer', minimum: 2, maximum: 10 },
    parties: { type: 'array', minItems: 2, maxItems: 10, uniqueItems: true, items: nodeId, description: 'node ids; default: every node of the genesis' },
    cold: { type: 'boolean', description: 'a cold key: every signing quorum must include the offline node(s) among the parties; set at creation, attested and enforced by every node' },
  },
} as const;

/**
 * The sign body: the initiator-signed request and its signature. The request is checked field by
 * field by policy/sign-request.ts (the one strict parser every node runs too); this schema only
 * describes it for clients and the OpenAPI document.
 */
export const signBody = {
  type: 'object',
  additionalProperties: false,
  required: ['request', 'signature'],
  properties: {
    request: {
      type: 'object',
      description: 'what the initiator signs: SHA-256 of canonical JSON {"domain":"custos/sign-request/v1","request": <this object>}',
      required: ['keyId', 'payload', 'initiator', 'nonce', 'createdAt'],
      properties: {
        keyId: { type: 'string', description: 'the key, as in the URL' },
        payload: {
          type: 'object', required: ['type', 'hex'],
          properties: {
            type: { type: 'string', enum: [...PAYLOAD_TYPES], description: 'eth-tx (unsigned legacy EIP-155 or EIP-1559 tx), eth-message (EIP-191), eth-typed-data (EIP-712 JSON, UTF-8), digest (32 bytes, raw), message (bytes, raw; FROST keys)' },
            hex: { ...HEX_BYTES, maxLength: 2 * 1024 * 1024, description: 'the payload bytes, lowercase hex without 0x' },
          },
        },
        intent: {
          type: 'object', description: 'what the payload is meant to do; every node decodes the payload and refuses a mismatch. eth-tx needs to and amount',
          properties: { chain: { type: 'string', description: 'CAIP-2, e.g. eip155:1' }, asset: { type: 'string', description: 'asset id declared in the policy' }, to: { type: 'string' }, amount: { type: 'string', description: 'base units, decimal' }, data: { type: 'string' } },
        },
        derivationPath: { type: 'string', maxLength: 200, description: 'ecdsa-secp256k1 only: BIP32 path of non-hardened steps, e.g. m/44/60/0/0/7; default m' },
        initiator: { type: 'string', description: 'identity id of the initiator (policy identities)' },
        nonce: { type: 'string', pattern: '^[0-9a-f]{16,64}$', description: 'random, so two identical payment requests stay distinct' },
        createdAt: { type: 'string', description: 'ISO 8601 UTC' },
      },
    },
    signature: { type: 'string', pattern: '^[0-9a-f]{128}$', description: "the initiator's signature over the request digest: P-256 r||s (low s) over SHA-256(digest), or Ed25519 over the digest" },
  },
} as const;

export const signResult = {
  type: 'object',
  required: ['requestId', 'signature'],
  properties: {
    requestId: { type: 'string' },
    status: { type: 'string', enum: ['SIGNED'] },
    signedTransaction: { type: 'string', description: 'eth-tx only: the signed, serialised transaction (hex), ready to broadcast' },
    signature: { type: 'string', description: 'hex: 64-byte Ed25519 / BIP340 / RFC 9591 secp256k1 (65 bytes, compressed R || z) signature; ecdsa-secp256k1: 64-byte r || s with low s' },
    recoveryId: { type: 'integer', enum: [0, 1], description: 'ecdsa-secp256k1 only: parity of R (y), after low-s normalisation' },
    publicKey: { type: 'string', description: 'ecdsa-secp256k1 only: compressed public key actually used (derived along derivationPath)' },
    presigned: { type: 'boolean', description: 'ecdsa-secp256k1 only: true if a pooled presignature was used (one round), false for the uncached path' },
    signers: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const xpub = {
  type: 'object',
  required: ['keyId', 'xpub', 'publicKey', 'chainCode'],
  properties: {
    keyId: { type: 'string' },
    xpub: { type: 'string', description: 'BIP32 extended public key (mainnet xpub version, depth 0) of the threshold key' },
    publicKey: { type: 'string' }, chainCode: { type: 'string' },
    derivationPath: { type: 'string' }, derivedPublicKey: { type: 'string', description: 'with ?path=: the public key at that non-hardened path' },
  },
} as const;
export const xpubQuery = { type: 'object', additionalProperties: false, properties: { path: { type: 'string', maxLength: 1200 } } } as const;

export const idParam = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 100 } } } as const;
export const listQuery = { type: 'object', additionalProperties: false, properties: { limit: { type: 'string', pattern: '^(1000|[1-9][0-9]{0,2})$', description: '1..1000, default 100' }, after: { type: 'string', maxLength: 64 } } } as const;
