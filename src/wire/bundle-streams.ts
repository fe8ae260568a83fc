import type { DatabaseSync } from 'node:sqlite';

/**
 * The durable side of bundle streams, for any party that sends or receives bundles (coordinator
 * and offline node): the last sequence number accepted from each sender, the last one sent to
 * each recipient, and every bundle sent, so a lost file or a QR sequence shown to nobody can be
 * produced again byte for byte (a second, different bundle with the same number would be refused
 * by the receiver as a replay or accepted in place of the first: neither is wanted).
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS bundle_streams (
  peer TEXT NOT NULL,
  direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  seq INTEGER NOT NULL,
  PRIMARY KEY (peer, direction)
);
CREATE TABLE IF NOT EXISTS bundles_sent (
  peer TEXT NOT NULL,
  seq INTEGER NOT NULL,
  bytes BLOB NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (peer, seq)
);
`;

export class BundleStreams {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
    db.exec(SCHEMA);
  }

  /** The last seq accepted from `peer` (0 if none). */
  lastIn(peer: string): number {
    return (this.#db.prepare(`SELECT seq FROM bundle_streams WHERE peer = ? AND direction = 'in'`).get(peer) as { seq: number } | undefined)?.seq ?? 0;
  }
  /** The last seq sent to `peer` (0 if none). */
  lastOut(peer: string): number {
    return (this.#db.prepare(`SELECT seq FROM bundle_streams WHERE peer = ? AND direction = 'out'`).get(peer) as { seq: number } | undefined)?.seq ?? 0;
  }
  /** Records `seq` from `peer` as accepted; call in the transaction that stores the bundle's effects. */
  accept(peer: string, seq: number): void {
    this.#db.prepare(`INSERT INTO bundle_streams (peer, direction, seq) VALUES (?, 'in', ?) ON CONFLICT (peer, direction) DO UPDATE SET seq = excluded.seq`).run(peer, seq);
  }
  /** Records a sealed bundle to `peer` as sent, with its bytes. */
  sent(peer: string, seq: number, bytes: Uint8Array): void {
    this.#db.prepare(`INSERT INTO bundle_streams (peer, direction, seq) VALUES (?, 'out', ?) ON CONFLICT (peer, direction) DO UPDATE SET seq = excluded.seq`).run(peer, seq);
    this.#db.prepare('INSERT INTO bundles_sent (peer, seq, bytes, created_at) VALUES (?, ?, ?, ?)').run(peer, seq, bytes, new Date().toISOString());
  }
  /** A bundle sent earlier (the newest when `seq` is omitted). */
  sentBundle(peer: string, seq?: number): { seq: number; bytes: Uint8Array; createdAt: string } | undefined {
    const r = (seq === undefined
      ? this.#db.prepare('SELECT seq, bytes, created_at FROM bundles_sent WHERE peer = ? ORDER BY seq DESC LIMIT 1').get(peer)
      : this.#db.prepare('SELECT seq, bytes, created_at FROM bundles_sent WHERE peer = ? AND seq = ?').get(peer, seq)) as { seq: number; bytes: Uint8Array; created_at: string } | undefined;
    return r && { seq: r.seq, bytes: new Uint8Array(r.bytes), createdAt: r.created_at };
  }
}
