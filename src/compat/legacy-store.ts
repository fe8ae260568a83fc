import { SqliteStore } from '../common/sqlite.ts';
import { REQUESTS_TABLE } from '../coordinator/store.ts';

/**
 * The legacy signer's durable request log (embedded SQLite, WAL, synchronous=FULL): the same
 * `requests` rows, written at the same points, as the coordinator's store (coordinator/store.ts),
 * so that the single-key baseline pays the same durability cost per signature: one committed
 * insert before the HSM is asked, one committed update after.
 */
const SCHEMA = REQUESTS_TABLE;

export type LegacyRequestStatus = 'SIGNING' | 'SIGNED' | 'FAILED';

/** `signature`: hex as legacy-schemes.ts storedSignature reads it (ECDSA rows carry the recovery id as a 65th byte). */
export type LegacyRequestRow = {
  id: string; key_id: string; idempotency_key: string | null; body_hash: string; payload: string; status: LegacyRequestStatus;
  signature: string | null; error: string | null; created_at: string; updated_at: string;
};

export class LegacyStore extends SqliteStore {
  constructor(path: string) {
    super(path, SCHEMA);
  }

  insertRequest(r: { id: string; key_id: string; idempotency_key: string | null; body_hash: string; payload: string }): void {
    const now = new Date().toISOString();
    this.db.prepare('INSERT INTO requests (id, key_id, idempotency_key, body_hash, payload, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(r.id, r.key_id, r.idempotency_key, r.body_hash, r.payload, 'SIGNING', now, now);
  }

  finishRequest(id: string, status: 'SIGNED' | 'FAILED', fields: { signature?: string; error?: string }): void {
    this.db.prepare('UPDATE requests SET status = ?, signature = ?, error = ?, updated_at = ? WHERE id = ?')
      .run(status, fields.signature ?? null, fields.error ?? null, new Date().toISOString(), id);
  }

  getRequest(id: string): LegacyRequestRow | undefined {
    return this.db.prepare('SELECT * FROM requests WHERE id = ?').get(id) as LegacyRequestRow | undefined;
  }

  requestByIdempotencyKey(k: string): LegacyRequestRow | undefined {
    return this.db.prepare('SELECT * FROM requests WHERE idempotency_key = ?').get(k) as LegacyRequestRow | undefined;
  }

  countRequests(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM requests').get() as { n: number }).n;
  }
}
