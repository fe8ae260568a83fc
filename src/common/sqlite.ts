import { DatabaseSync } from 'node:sqlite';

/**
 * Opens an embedded SQLite database with the durability custos relies on: WAL with
 * synchronous=FULL, so a committed transaction (a burned nonce, a stored share) survives a crash
 * or power loss before anything computed from it leaves the process.
 */
export function openDatabase(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;');
  return db;
}

/** Runs `fn` in one IMMEDIATE transaction; rolls back on any throw. */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const out = fn();
    db.exec('COMMIT');
    return out;
  } catch (e) {
    db.exec('ROLLBACK');
    throw e;
  }
}

/** Base of the node's and the coordinator's stores: one database, its schema, transactions. */
export class SqliteStore {
  readonly db: DatabaseSync;
  #open = true;
  constructor(path: string, schema: string) {
    this.db = openDatabase(path);
    this.db.exec(schema);
    // Every party (node or coordinator) keeps its hash-chained audit log in its own database.
    this.db.exec('CREATE TABLE IF NOT EXISTS audit_log (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL)');
  }

  lastAuditEntry(): string | undefined {
    return (this.db.prepare('SELECT entry FROM audit_log ORDER BY seq DESC LIMIT 1').get() as { entry: string } | undefined)?.entry;
  }
  insertAuditEntry(seq: number, entry: string): void {
    this.db.prepare('INSERT INTO audit_log (seq, entry) VALUES (?, ?)').run(seq, entry);
  }
  auditEntries(after: number, limit: number): string[] {
    return (this.db.prepare('SELECT entry FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?').all(after, limit) as { entry: string }[]).map((r) => r.entry);
  }
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.db.close();
  }
  tx<T>(fn: () => T): T { return transaction(this.db, fn); }
}
