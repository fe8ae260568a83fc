import type { DatabaseSync } from 'node:sqlite';

/**
 * A node's durable policy state, in its own SQLite file: every activated policy version (never
 * deleted, so a rollback is refused after a restart too), when it first saw each request (its own
 * clock runs timelocks and expiries from here), and one velocity event per authorised request.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS policies (
  version INTEGER PRIMARY KEY,
  signed TEXT NOT NULL,
  effective TEXT NOT NULL,
  digest TEXT NOT NULL,
  activated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests_seen (
  digest TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  initiator TEXT NOT NULL,
  first_seen INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS velocity_events (
  request TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  initiator TEXT NOT NULL,
  asset TEXT NOT NULL,
  amount TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS velocity_by_key ON velocity_events (key_id, asset, at);
CREATE INDEX IF NOT EXISTS velocity_by_initiator ON velocity_events (initiator, asset, at);
`;

export type PolicyRow = { version: number; signed: string; effective: string; digest: string; activated_at: string };

export class PolicyStore {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
    db.exec(SCHEMA);
  }

  active(): PolicyRow | undefined {
    return this.#db.prepare('SELECT * FROM policies ORDER BY version DESC LIMIT 1').get() as PolicyRow | undefined;
  }
  insertPolicy(r: PolicyRow): void {
    this.#db.prepare('INSERT INTO policies (version, signed, effective, digest, activated_at) VALUES (?, ?, ?, ?, ?)').run(r.version, r.signed, r.effective, r.digest, r.activated_at);
  }

  firstSeen(digest: string): number | undefined {
    return (this.#db.prepare('SELECT first_seen FROM requests_seen WHERE digest = ?').get(digest) as { first_seen: number } | undefined)?.first_seen;
  }
  /** Records the first sight of a request; later sights keep the first time. Returns it. */
  see(digest: string, keyId: string, initiator: string, now: number): { firstSeen: number; isNew: boolean } {
    const r = this.#db.prepare('INSERT OR IGNORE INTO requests_seen (digest, key_id, initiator, first_seen) VALUES (?, ?, ?, ?)').run(digest, keyId, initiator, now);
    return { firstSeen: this.firstSeen(digest)!, isNew: r.changes === 1 };
  }

  /** One event per request: a retry of the same request does not count twice. */
  recordVelocity(e: { request: string; keyId: string; initiator: string; asset: string; amount: string; at: number }): void {
    this.#db.prepare('INSERT OR IGNORE INTO velocity_events (request, key_id, initiator, asset, amount, at) VALUES (?, ?, ?, ?, ?, ?)').run(e.request, e.keyId, e.initiator, e.asset, e.amount, e.at);
  }
  /** Events of `asset` since `since` for a key or an initiator, excluding `request` itself. */
  velocity(per: 'key' | 'initiator', who: string, asset: string, since: number, request: string): { total: bigint; count: number } {
    const col = per === 'key' ? 'key_id' : 'initiator';
    const rows = this.#db.prepare(`SELECT amount FROM velocity_events WHERE ${col} = ? AND asset = ? AND at > ? AND request <> ?`).all(who, asset, since, request) as { amount: string }[];
    return { total: rows.reduce((s, r) => s + BigInt(r.amount), 0n), count: rows.length };
  }
}
