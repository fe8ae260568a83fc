import type { DatabaseSync } from 'node:sqlite';

/**
 * The lifecycle side of a sign request (issue 4, item 5), next to the `requests` row that holds
 * its status and result: the initiator-signed request, the approvals gathered, what the nodes said
 * it needs, and its time limits. All public: signatures by people, not secrets.
 */
export const REQUEST_STATES = ['SUBMITTED', 'PENDING_APPROVAL', 'APPROVED', 'SIGNING', 'SIGNED', 'REJECTED', 'FAILED', 'EXPIRED', 'CANCELLED'] as const;
export type RequestState = (typeof REQUEST_STATES)[number];
export const FINAL_STATES: readonly RequestState[] = ['SIGNED', 'REJECTED', 'FAILED', 'EXPIRED', 'CANCELLED'];

const SCHEMA = `
CREATE TABLE IF NOT EXISTS request_policy (
  id TEXT PRIMARY KEY,
  digest TEXT NOT NULL,
  initiator TEXT NOT NULL,
  request TEXT NOT NULL,
  signature TEXT NOT NULL,
  approvals TEXT NOT NULL DEFAULT '[]',
  requirement TEXT,
  decisions TEXT,
  not_before INTEGER,
  expires_at INTEGER,
  reason TEXT
);
CREATE INDEX IF NOT EXISTS request_policy_by_digest ON request_policy (digest);
CREATE TABLE IF NOT EXISTS coordinator_policy (
  version INTEGER PRIMARY KEY,
  signed TEXT NOT NULL,
  stored_at TEXT NOT NULL
);
`;

export type RequestPolicyRow = {
  id: string; digest: string; initiator: string; request: string; signature: string; approvals: string;
  requirement: string | null; decisions: string | null; not_before: number | null; expires_at: number | null; reason: string | null;
};
export type RequestListRow = RequestPolicyRow & { key_id: string; status: RequestState; created_at: string; updated_at: string };

export class RequestStore {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
    db.exec(SCHEMA);
  }

  insert(r: { id: string; digest: string; initiator: string; request: string; signature: string }): void {
    this.#db.prepare('INSERT INTO request_policy (id, digest, initiator, request, signature) VALUES (?, ?, ?, ?, ?)').run(r.id, r.digest, r.initiator, r.request, r.signature);
  }
  get(id: string): RequestPolicyRow | undefined {
    return this.#db.prepare('SELECT * FROM request_policy WHERE id = ?').get(id) as RequestPolicyRow | undefined;
  }
  setStatus(id: string, status: RequestState, reason?: string | null): void {
    this.#db.prepare('UPDATE requests SET status = ?, updated_at = ? WHERE id = ?').run(status, new Date().toISOString(), id);
    if (reason !== undefined) this.#db.prepare('UPDATE request_policy SET reason = ? WHERE id = ?').run(reason, id);
  }
  /** Moves `id` from one of `from` to `to`; false if it was no longer in one of them (a race lost). */
  transition(id: string, from: readonly RequestState[], to: RequestState, reason?: string | null): boolean {
    const r = this.#db.prepare(`UPDATE requests SET status = ?, updated_at = ? WHERE id = ? AND status IN (${from.map(() => '?').join(',')})`).run(to, new Date().toISOString(), id, ...from);
    if (r.changes === 1 && reason !== undefined) this.#db.prepare('UPDATE request_policy SET reason = ? WHERE id = ?').run(reason, id);
    return r.changes === 1;
  }
  setDecision(id: string, f: { requirement: unknown; decisions: unknown; notBefore: number | null; expiresAt: number | null }): void {
    this.#db.prepare('UPDATE request_policy SET requirement = ?, decisions = ?, not_before = ?, expires_at = ? WHERE id = ?')
      .run(f.requirement === null ? null : JSON.stringify(f.requirement), JSON.stringify(f.decisions), f.notBefore, f.expiresAt, id);
  }
  setApprovals(id: string, approvals: unknown[]): void {
    this.#db.prepare('UPDATE request_policy SET approvals = ? WHERE id = ?').run(JSON.stringify(approvals), id);
  }
  setNotBefore(id: string, at: number): void {
    this.#db.prepare('UPDATE request_policy SET not_before = ? WHERE id = ?').run(at, id);
  }

  list(f: { status?: string; keyId?: string; initiator?: string; limit: number; after?: string }): RequestListRow[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (f.status) { where.push('r.status = ?'); args.push(f.status); }
    if (f.keyId) { where.push('r.key_id = ?'); args.push(f.keyId); }
    if (f.initiator) { where.push('p.initiator = ?'); args.push(f.initiator); }
    if (f.after) { where.push('r.created_at > ?'); args.push(f.after); }
    args.push(f.limit);
    return this.#db.prepare(`SELECT p.*, r.key_id, r.status, r.created_at, r.updated_at FROM requests r JOIN request_policy p ON p.id = r.id ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY r.created_at, r.id LIMIT ?`).all(...args) as RequestListRow[];
  }
  /** Requests waiting on approvals or a timelock, for the scheduler. */
  waiting(): RequestListRow[] {
    return this.#db.prepare("SELECT p.*, r.key_id, r.status, r.created_at, r.updated_at FROM requests r JOIN request_policy p ON p.id = r.id WHERE r.status IN ('PENDING_APPROVAL', 'APPROVED')").all() as RequestListRow[];
  }

  storePolicy(version: number, signed: string): void {
    this.#db.prepare('INSERT OR IGNORE INTO coordinator_policy (version, signed, stored_at) VALUES (?, ?, ?)').run(version, signed, new Date().toISOString());
  }
  /** Every stored version above `version`, oldest first. */
  policiesAfter(version: number): { version: number; signed: string }[] {
    return this.#db.prepare('SELECT version, signed FROM coordinator_policy WHERE version > ? ORDER BY version').all(version) as { version: number; signed: string }[];
  }
  latestPolicy(): string | undefined {
    return (this.#db.prepare('SELECT signed FROM coordinator_policy ORDER BY version DESC LIMIT 1').get() as { signed: string } | undefined)?.signed;
  }
}
