import { timingSafeEqual } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import type { FastifyInstance } from 'fastify';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8 } from '../common/bytes.ts';
import { CustosError, ValidationError } from '../common/errors.ts';
import { problemOf, PROBLEM_CONTENT_TYPE } from '../common/problem.ts';
import { secureRng, type Rng } from '../crypto/random.ts';

/**
 * API tokens: how a client gets past the coordinator's front door, and nothing more. They do not
 * authorise signing (each request is signed by its initiator's own key and checked by every
 * node), so a stolen token lets its holder submit requests the nodes will still refuse.
 *
 * A token reads `custos_<id>_<secret>`: the id (16 hex) finds the row without a secret-dependent
 * lookup, the secret is 32 random bytes, base64url. Only SHA-256 of the whole token is stored; a
 * fast hash suffices because the token has 256 bits of entropy, so nothing is left to guess.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS api_tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);
`;

const TOKEN_RE = /^custos_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;
const NAME_RE = /^[\x20-\x7e]{1,100}$/;

export type ApiClient = { id: string; name: string };
export type ApiTokenInfo = { id: string; name: string; createdAt: string; revokedAt: string | null };
type TokenRow = { id: string; name: string; token_hash: string; created_at: string; revoked_at: string | null };

const hashToken = (token: string): string => toHex(sha256(utf8(token)));

export class ApiTokens {
  readonly db: DatabaseSync;
  readonly #rng: Rng;
  constructor(db: DatabaseSync, rng: Rng = secureRng) {
    this.db = db;
    this.#rng = rng;
    this.db.exec(SCHEMA);
  }

  /** Makes a token; the returned `token` is the only time it exists in clear. */
  create(name: string, now = new Date()): { id: string; token: string; name: string; createdAt: string } {
    if (typeof name !== 'string' || !NAME_RE.test(name) || name.trim() !== name) {
      throw new ValidationError('token name must be 1..100 printable ASCII characters without surrounding spaces', { code: 'token.bad_name' });
    }
    const id = toHex(this.#rng(8));
    const token = `custos_${id}_${Buffer.from(this.#rng(32)).toString('base64url')}`;
    const createdAt = now.toISOString();
    this.db.prepare('INSERT INTO api_tokens (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)').run(id, name, hashToken(token), createdAt);
    return { id, token, name, createdAt };
  }

  /** The client a token belongs to, or undefined if it is malformed, unknown, wrong or revoked. */
  verify(token: string): ApiClient | undefined {
    if (typeof token !== 'string') return undefined;
    const m = TOKEN_RE.exec(token);
    if (!m) return undefined;
    const row = this.db.prepare('SELECT * FROM api_tokens WHERE id = ?').get(m[1]) as TokenRow | undefined;
    if (!row) return undefined;
    const ok = timingSafeEqual(Buffer.from(hashToken(token), 'hex'), Buffer.from(row.token_hash, 'hex'));
    if (!ok || row.revoked_at !== null) return undefined;
    return { id: row.id, name: row.name };
  }

  /** Revokes for good; false only if there is no such token. Revoking twice keeps the first date. */
  revoke(id: string, now = new Date()): boolean {
    const r = this.db.prepare('UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(now.toISOString(), id);
    return Number(r.changes) > 0;
  }

  list(): ApiTokenInfo[] {
    return (this.db.prepare('SELECT id, name, created_at, revoked_at FROM api_tokens ORDER BY created_at, id').all() as TokenRow[])
      .map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at, revokedAt: r.revoked_at }));
  }

  /** Tokens not revoked. */
  count(): number {
    return Number((this.db.prepare('SELECT COUNT(*) AS n FROM api_tokens WHERE revoked_at IS NULL').get() as { n: number | bigint }).n);
  }
}

/** The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), else undefined. */
export function bearerToken(headerValue: string | undefined): string | undefined {
  if (typeof headerValue !== 'string') return undefined;
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(headerValue);
  return m ? m[1] : undefined;
}

/** The client was not authenticated (no token, or a bad one): HTTP 401. */
export class UnauthenticatedError extends CustosError {
  constructor(code: 'auth.token_required' | 'auth.token_invalid', message: string) {
    super(code, message, { status: 401, culprit: 'client' });
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The API client whose token authenticated this request (unset on open routes). */
    custosClient?: ApiClient;
  }
}

/**
 * Requires a valid API token on every request except those `open` accepts. `open` sees the
 * method and the matched route's pattern (e.g. "/healthz", "/v1/keys/:id"), or for an unknown
 * route the path without its query, so an encoded or decorated path cannot pass for an open one.
 * Unknown routes need a token too: an anonymous caller cannot map the API.
 */
export function installTokenAuth(app: FastifyInstance, tokens: ApiTokens, opts: { open: (method: string, url: string) => boolean }): void {
  if (!app.hasRequestDecorator('custosClient')) app.decorateRequest('custosClient', undefined);
  app.addHook('onRequest', async (req, reply) => {
    const route = req.routeOptions.url ?? req.url.split('?')[0];
    if (opts.open(req.method, route)) return;
    const header = req.headers.authorization;
    const token = bearerToken(header);
    let err: UnauthenticatedError | undefined;
    if (token === undefined) {
      err = header === undefined || !/^Bearer(\s|$)/i.test(header)
        ? new UnauthenticatedError('auth.token_required', 'this API needs an API token: Authorization: Bearer <token>')
        : new UnauthenticatedError('auth.token_invalid', 'the API token is malformed');
    } else {
      const client = tokens.verify(token);
      if (client) { req.custosClient = client; return; }
      err = new UnauthenticatedError('auth.token_invalid', 'the API token is unknown or revoked');
    }
    const challenge = err.code === 'auth.token_invalid' ? 'Bearer realm="custos", error="invalid_token"' : 'Bearer realm="custos"';
    return reply.code(401).header('www-authenticate', challenge).type(PROBLEM_CONTENT_TYPE).send(problemOf(err));
  });
}
