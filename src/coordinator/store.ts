import { SqliteStore } from '../common/sqlite.ts';
import type { KeyAttestation } from '../wire/attestation.ts';
import type { SignedNonceCommitment } from '../wire/nonce-commitment.ts';

/** The coordinator's durable state (embedded SQLite). It holds no secrets: keys' public parts,
 * attestations, requests with their idempotency keys, and the pools of public nonce commitments. */
/** Sign requests with their idempotency keys; the legacy single-key signer keeps the same table. */
export const REQUESTS_TABLE = `CREATE TABLE IF NOT EXISTS requests (
  id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  idempotency_key TEXT UNIQUE,
  body_hash TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  signature TEXT,
  signers TEXT,
  error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS keys (
  id TEXT PRIMARY KEY,
  scheme TEXT NOT NULL,
  threshold INTEGER NOT NULL,
  parties TEXT NOT NULL,
  public_key TEXT NOT NULL,
  internal_key TEXT,
  group_public TEXT NOT NULL,
  attestations TEXT NOT NULL,
  created_at TEXT NOT NULL
);
${REQUESTS_TABLE}CREATE TABLE IF NOT EXISTS nonce_pool (
  nonce_id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  quorum TEXT NOT NULL,
  party TEXT NOT NULL,
  commitment TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pool_by_quorum ON nonce_pool (key_id, quorum, party, created_at);
CREATE TABLE IF NOT EXISTS presign_pool (
  presign_id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  quorum TEXT NOT NULL,
  r_point TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_anchors (
  party TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  anchor TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS presign_pool_by_quorum ON presign_pool (key_id, quorum, created_at);
`;

export type CoordKeyRow = {
  id: string; scheme: string; threshold: number; parties: string; public_key: string; internal_key: string | null;
  group_public: string; attestations: string; created_at: string;
};
export type RequestRow = {
  id: string; key_id: string; idempotency_key: string | null; body_hash: string; payload: string; status: string;
  signature: string | null; signers: string | null; error: string | null; result?: string | null; created_at: string; updated_at: string;
};

export type KeyView = {
  id: string; scheme: string; threshold: number; parties: string[]; publicKey: string; internalKey?: string;
  chainCode?: string; requiredParties?: string[]; attestations: KeyAttestation[]; createdAt: string;
};

export function keyView(r: CoordKeyRow): KeyView {
  const v: KeyView = { id: r.id, scheme: r.scheme, threshold: r.threshold, parties: JSON.parse(r.parties), publicKey: r.public_key, attestations: JSON.parse(r.attestations), createdAt: r.created_at };
  if (r.internal_key) v.internalKey = r.internal_key;
  const g = JSON.parse(r.group_public) as { chainCode?: string; requiredParties?: string[] };
  if (g.chainCode) v.chainCode = g.chainCode;
  if (g.requiredParties?.length) v.requiredParties = g.requiredParties;
  return v;
}

export class CoordinatorStore extends SqliteStore {
  constructor(path: string) {
    super(path, SCHEMA);
    // Databases made before threshold ECDSA keep no scheme-specific result fields.
    const cols = this.db.prepare('PRAGMA table_info(requests)').all() as { name: string }[];
    if (!cols.some((c) => c.name === 'result')) this.db.exec('ALTER TABLE requests ADD COLUMN result TEXT');
  }

  insertKey(r: Omit<CoordKeyRow, 'created_at'>): CoordKeyRow {
    const row = { ...r, created_at: new Date().toISOString() };
    this.db.prepare('INSERT INTO keys (id, scheme, threshold, parties, public_key, internal_key, group_public, attestations, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(row.id, row.scheme, row.threshold, row.parties, row.public_key, row.internal_key, row.group_public, row.attestations, row.created_at);
    return row;
  }
  getKey(id: string): CoordKeyRow | undefined {
    return this.db.prepare('SELECT * FROM keys WHERE id = ?').get(id) as CoordKeyRow | undefined;
  }
  listKeys(limit: number, after?: string): CoordKeyRow[] {
    return (after
      ? this.db.prepare('SELECT * FROM keys WHERE created_at > ? ORDER BY created_at LIMIT ?').all(after, limit)
      : this.db.prepare('SELECT * FROM keys ORDER BY created_at LIMIT ?').all(limit)) as CoordKeyRow[];
  }

  insertRequest(r: { id: string; key_id: string; idempotency_key: string | null; body_hash: string; payload: string; status: string }): void {
    const now = new Date().toISOString();
    this.db.prepare('INSERT INTO requests (id, key_id, idempotency_key, body_hash, payload, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(r.id, r.key_id, r.idempotency_key, r.body_hash, r.payload, r.status, now, now);
  }
  finishRequest(id: string, status: 'SIGNED' | 'FAILED' | 'REJECTED', fields: { signature?: string; signers?: string[]; error?: string; result?: Record<string, unknown>; releaseIdempotencyKey?: boolean }): void {
    this.db.prepare(`UPDATE requests SET status = ?, signature = ?, signers = ?, error = ?, result = ?, updated_at = ?${fields.releaseIdempotencyKey ? ', idempotency_key = NULL' : ''} WHERE id = ?`)
      .run(status, fields.signature ?? null, fields.signers ? JSON.stringify(fields.signers) : null, fields.error ?? null, fields.result ? JSON.stringify(fields.result) : null, new Date().toISOString(), id);
  }
  /** At start-up: requests a crashed coordinator left SIGNING never produced a signature we
   * returned; mark them failed and free their idempotency keys so clients can retry. */
  failInterrupted(): number {
    const problem = JSON.stringify({ type: 'urn:custos:error:request.interrupted', title: 'request.interrupted', status: 503, detail: 'the coordinator stopped while signing this request; retry it', code: 'request.interrupted' });
    return Number(this.db.prepare(`UPDATE requests SET status = 'FAILED', error = ?, idempotency_key = NULL, updated_at = ? WHERE status = 'SIGNING'`).run(problem, new Date().toISOString()).changes);
  }
  /** Drops the pooled commitments of one quorum (a node forgot or refused them). */
  purgePool(keyId: string, quorum: string): void {
    this.db.prepare('DELETE FROM nonce_pool WHERE key_id = ? AND quorum = ?').run(keyId, quorum);
    this.db.prepare('DELETE FROM presign_pool WHERE key_id = ? AND quorum = ?').run(keyId, quorum);
  }

  /**
   * Keeps the latest audit anchor (signed (sequence, head)) each node handed out with a share,
   * so a node's log cut short later is caught by `custos audit verify`. Checked by the caller.
   */
  recordAnchor(party: string, seq: number, anchor: string): void {
    this.db.prepare('INSERT INTO audit_anchors (party, seq, anchor) VALUES (?, ?, ?) ON CONFLICT(party) DO UPDATE SET seq = excluded.seq, anchor = excluded.anchor WHERE excluded.seq > audit_anchors.seq').run(party, seq, anchor);
  }
  anchors(): string[] {
    return (this.db.prepare('SELECT anchor FROM audit_anchors ORDER BY party').all() as { anchor: string }[]).map((r) => r.anchor);
  }

  /** Pools finished presignatures (public part only: id and R) of one quorum. */
  addPresignatures(keyId: string, quorum: string, list: { id: string; R: string }[]): void {
    const now = new Date().toISOString();
    const st = this.db.prepare('INSERT OR IGNORE INTO presign_pool (presign_id, key_id, quorum, r_point, created_at) VALUES (?, ?, ?, ?, ?)');
    this.tx(() => { for (const p of list) st.run(p.id, keyId, quorum, p.R, now); });
  }
  /** Takes (and removes) the oldest pooled presignature of `quorum`: each is handed out once. */
  takePresignature(keyId: string, quorum: string): { id: string; R: string } | undefined {
    const row = this.db.prepare('DELETE FROM presign_pool WHERE presign_id = (SELECT presign_id FROM presign_pool WHERE key_id = ? AND quorum = ? ORDER BY created_at LIMIT 1) RETURNING presign_id, r_point').get(keyId, quorum) as { presign_id: string; r_point: string } | undefined;
    return row ? { id: row.presign_id, R: row.r_point } : undefined;
  }
  getRequest(id: string): RequestRow | undefined {
    return this.db.prepare('SELECT * FROM requests WHERE id = ?').get(id) as RequestRow | undefined;
  }
  requestByIdempotencyKey(k: string): RequestRow | undefined {
    return this.db.prepare('SELECT * FROM requests WHERE idempotency_key = ?').get(k) as RequestRow | undefined;
  }

  addCommitments(keyId: string, quorum: string, list: SignedNonceCommitment[]): void {
    const now = new Date().toISOString();
    const st = this.db.prepare('INSERT OR IGNORE INTO nonce_pool (nonce_id, key_id, quorum, party, commitment, created_at) VALUES (?, ?, ?, ?, ?, ?)');
    this.tx(() => { for (const c of list) st.run(c.nonceId, keyId, quorum, c.party, JSON.stringify(c), now); });
  }
  /** Takes (and removes) one commitment per member of `quorum`, or none if any member has none. */
  takeCommitments(keyId: string, quorum: string, members: string[]): SignedNonceCommitment[] | undefined {
    try {
      return this.tx(() => {
      const out: SignedNonceCommitment[] = [];
      for (const m of members) {
        const row = this.db.prepare('SELECT nonce_id, commitment FROM nonce_pool WHERE key_id = ? AND quorum = ? AND party = ? ORDER BY created_at LIMIT 1').get(keyId, quorum, m) as { nonce_id: string; commitment: string } | undefined;
        if (!row) throw new PoolEmpty();
        out.push(JSON.parse(row.commitment));
      }
      const del = this.db.prepare('DELETE FROM nonce_pool WHERE nonce_id = ?');
      for (const c of out) del.run(c.nonceId);
      return out;
      });
    } catch (e) {
      if (e instanceof PoolEmpty) return undefined;
      throw e;
    }
  }
  poolLevel(keyId: string, quorum: string): number {
    const presigned = (this.db.prepare('SELECT COUNT(*) AS n FROM presign_pool WHERE key_id = ? AND quorum = ?').get(keyId, quorum) as { n: number }).n;
    if (presigned > 0) return presigned;
    const rows = this.db.prepare('SELECT party, COUNT(*) AS n FROM nonce_pool WHERE key_id = ? AND quorum = ? GROUP BY party').all(keyId, quorum) as { party: string; n: number }[];
    const parties = quorum.split(',');
    if (rows.length < parties.length) return 0;
    return Math.min(...rows.map((r) => r.n));
  }
  poolLevels(): { key_id: string; quorum: string; n: number }[] {
    return this.db.prepare(`SELECT key_id, quorum, MIN(n) AS n FROM (SELECT key_id, quorum, party, COUNT(*) AS n FROM nonce_pool GROUP BY key_id, quorum, party) GROUP BY key_id, quorum
      UNION ALL SELECT key_id, quorum, COUNT(*) AS n FROM presign_pool GROUP BY key_id, quorum`).all() as { key_id: string; quorum: string; n: number }[];
  }
}

export class PoolEmpty extends Error {}
