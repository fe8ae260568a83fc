import { SqliteStore } from '../common/sqlite.ts';
import { ReuseError } from '../common/errors.ts';

/**
 * A node's durable state: one SQLite file in its data directory. Secrets (shares, nonces, DKG
 * state) are stored only as blobs sealed by the node's HSM; everything else here is public.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS keys (
  id TEXT PRIMARY KEY,
  scheme TEXT NOT NULL,
  threshold INTEGER NOT NULL,
  parties TEXT NOT NULL,
  public TEXT NOT NULL,
  sealed_share BLOB NOT NULL,
  attestation TEXT NOT NULL,
  attestations TEXT,
  state TEXT NOT NULL CHECK (state IN ('pending', 'active')),
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dkg_sessions (
  id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL UNIQUE,
  params TEXT NOT NULL,
  round TEXT NOT NULL,
  sealed_state BLOB,
  inputs_digest TEXT,
  output TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'done', 'aborted')),
  error TEXT
);
CREATE TABLE IF NOT EXISTS seen_messages (
  session TEXT NOT NULL,
  round TEXT NOT NULL,
  sender TEXT NOT NULL,
  digest TEXT NOT NULL,
  PRIMARY KEY (session, round, sender)
);
CREATE TABLE IF NOT EXISTS nonces (
  id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  quorum TEXT NOT NULL,
  commitment TEXT NOT NULL,
  sealed BLOB,
  state TEXT NOT NULL CHECK (state IN ('ready', 'reserved', 'burned')),
  session TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS nonces_by_key ON nonces (key_id, quorum, state);
CREATE TABLE IF NOT EXISTS nonce_consumption (
  owner TEXT NOT NULL,
  nonce_id TEXT NOT NULL,
  session TEXT NOT NULL,
  binding TEXT NOT NULL,
  PRIMARY KEY (owner, nonce_id)
);
CREATE TABLE IF NOT EXISTS presign_sessions (
  id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  quorum TEXT NOT NULL,
  ids TEXT NOT NULL,
  round TEXT NOT NULL,
  sealed_state BLOB,
  inputs_digest TEXT,
  output TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'done', 'aborted')),
  error TEXT
);
CREATE TABLE IF NOT EXISTS presign_ids (
  id TEXT PRIMARY KEY,
  session TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS presignatures (
  id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  quorum TEXT NOT NULL,
  session TEXT NOT NULL,
  r_point TEXT NOT NULL,
  sealed BLOB,
  state TEXT NOT NULL CHECK (state IN ('ready', 'burned')),
  binding TEXT,
  response TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS presignatures_by_key ON presignatures (key_id, state);
CREATE TABLE IF NOT EXISTS sign_sessions (
  id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  own_nonce TEXT NOT NULL,
  binding TEXT NOT NULL,
  request TEXT NOT NULL,
  receipt TEXT NOT NULL,
  share TEXT
);
`;

export type KeyRow = {
  id: string; scheme: string; threshold: number; parties: string; public: string;
  sealed_share: Uint8Array; sealed_setup?: Uint8Array | null; retired_pairs?: string; attestation: string; attestations: string | null; state: 'pending' | 'active'; created_at: string;
};
export type DkgSessionRow = {
  id: string; key_id: string; params: string; round: string; sealed_state: Uint8Array | null;
  inputs_digest: string | null; output: string; status: 'running' | 'done' | 'aborted'; error: string | null;
};
export type NonceRow = { id: string; key_id: string; quorum: string; commitment: string; sealed: Uint8Array | null; state: 'ready' | 'reserved' | 'burned'; session: string | null };
export type PresignSessionRow = {
  id: string; key_id: string; quorum: string; ids: string; round: string; sealed_state: Uint8Array | null;
  inputs_digest: string | null; output: string; status: 'running' | 'done' | 'aborted'; error: string | null;
};
export type PresignatureRow = { id: string; key_id: string; quorum: string; session: string; r_point: string; sealed: Uint8Array | null; state: 'ready' | 'burned'; binding: string | null; response: string | null };
export type SignSessionRow = { id: string; key_id: string; own_nonce: string; binding: string; request: string; receipt: string; share: string | null };

export class NodeStore extends SqliteStore {
  constructor(path: string) {
    super(path, SCHEMA);
    // Data directories made before threshold ECDSA have no column for its pairwise setup.
    const cols = this.db.prepare('PRAGMA table_info(keys)').all() as { name: string }[];
    if (!cols.some((c) => c.name === 'sealed_setup')) this.db.exec('ALTER TABLE keys ADD COLUMN sealed_setup BLOB');
    if (!cols.some((c) => c.name === 'retired_pairs')) this.db.exec(`ALTER TABLE keys ADD COLUMN retired_pairs TEXT NOT NULL DEFAULT '[]'`);
  }

  /** Retires the OT setup with `peer` for good (see EcdsaNode): presigning with it is refused. */
  retirePair(keyId: string, peer: string): void {
    const row = this.getKey(keyId);
    if (!row) return;
    const list = new Set(JSON.parse(row.retired_pairs ?? '[]') as string[]);
    list.add(peer);
    this.db.prepare('UPDATE keys SET retired_pairs = ? WHERE id = ?').run(JSON.stringify([...list].sort()), keyId);
  }

  setKeySetup(id: string, sealed: Uint8Array): void {
    this.db.prepare('UPDATE keys SET sealed_setup = ? WHERE id = ?').run(sealed, id);
  }

  // --- presigning (DKLs23)
  getPresignSession(id: string): PresignSessionRow | undefined {
    return this.db.prepare('SELECT * FROM presign_sessions WHERE id = ?').get(id) as PresignSessionRow | undefined;
  }
  insertPresignSession(r: { id: string; key_id: string; quorum: string; ids: string; round: string; sealed_state: Uint8Array; output: string }): void {
    this.db.prepare(`INSERT INTO presign_sessions (id, key_id, quorum, ids, round, sealed_state, inputs_digest, output, status) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, 'running')`)
      .run(r.id, r.key_id, r.quorum, r.ids, r.round, r.sealed_state, r.output);
  }
  advancePresignSession(id: string, round: string, sealedState: Uint8Array | null, inputsDigest: string, output: string, status: 'running' | 'done'): void {
    this.db.prepare('UPDATE presign_sessions SET round = ?, sealed_state = ?, inputs_digest = ?, output = ?, status = ? WHERE id = ?')
      .run(round, sealedState, inputsDigest, output, status, id);
  }
  abortPresignSession(id: string, error: string): void {
    this.db.prepare(`UPDATE presign_sessions SET status = 'aborted', sealed_state = NULL, error = ? WHERE id = ?`).run(error, id);
  }
  // --- audit log (node/audit.ts)

  presignIdClaimed(id: string): boolean {
    return this.db.prepare('SELECT 1 FROM presign_ids WHERE id = ?').get(id) !== undefined;
  }
  /** Claims presignature ids for one session, for good (aborted sessions keep theirs). */
  claimPresignIds(ids: readonly string[], session: string): void {
    const st = this.db.prepare('INSERT INTO presign_ids (id, session) VALUES (?, ?)');
    for (const id of ids) {
      if (this.presignIdClaimed(id)) throw new ReuseError('presign.id_reused', `presignature id ${id} was already used on this node`, 'coordinator');
      st.run(id, session);
    }
  }
  /** Aborts every running presigning session of `keyId` whose quorum includes `peer`. */
  abortPresignSessionsWith(keyId: string, peer: string, error: string): void {
    const rows = this.db.prepare(`SELECT id, quorum FROM presign_sessions WHERE key_id = ? AND status = 'running'`).all(keyId) as { id: string; quorum: string }[];
    for (const r of rows) if (r.quorum.split(',').includes(peer)) this.abortPresignSession(r.id, error);
  }
  insertPresignature(r: { id: string; key_id: string; quorum: string; session: string; r_point: string; sealed: Uint8Array }): void {
    this.db.prepare(`INSERT INTO presignatures (id, key_id, quorum, session, r_point, sealed, state, created_at) VALUES (?, ?, ?, ?, ?, ?, 'ready', ?)`)
      .run(r.id, r.key_id, r.quorum, r.session, r.r_point, r.sealed, new Date().toISOString());
  }
  getPresignature(id: string): PresignatureRow | undefined {
    return this.db.prepare('SELECT id, key_id, quorum, session, r_point, sealed, state, binding, response FROM presignatures WHERE id = ?').get(id) as PresignatureRow | undefined;
  }
  /** Burns a presignature under `binding`: the sealed share is deleted in the same statement. */
  burnPresignature(id: string, binding: string, response: string): void {
    const r = this.db.prepare(`UPDATE presignatures SET state = 'burned', sealed = NULL, binding = ?, response = ? WHERE id = ? AND state = 'ready'`).run(binding, response, id);
    if (r.changes !== 1) throw new ReuseError('presign.reused', `presignature ${id} was already used`, 'coordinator');
  }
  countReadyPresignatures(keyId: string): number {
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM presignatures WHERE key_id = ? AND state = 'ready'`).get(keyId) as { n: number }).n;
  }

  // --- keys
  insertKey(r: Omit<KeyRow, 'attestations' | 'state' | 'created_at'>): void {
    this.db.prepare(`INSERT INTO keys (id, scheme, threshold, parties, public, sealed_share, attestation, attestations, state, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 'pending', ?)`).run(r.id, r.scheme, r.threshold, r.parties, r.public, r.sealed_share, r.attestation, new Date().toISOString());
  }
  activateKey(id: string, attestations: string): void {
    this.db.prepare(`UPDATE keys SET state = 'active', attestations = ? WHERE id = ?`).run(attestations, id);
  }
  getKey(id: string): KeyRow | undefined {
    return this.db.prepare('SELECT * FROM keys WHERE id = ?').get(id) as KeyRow | undefined;
  }
  listKeys(): KeyRow[] {
    return this.db.prepare('SELECT * FROM keys ORDER BY created_at').all() as KeyRow[];
  }

  // --- DKG sessions
  getDkg(id: string): DkgSessionRow | undefined {
    return this.db.prepare('SELECT * FROM dkg_sessions WHERE id = ?').get(id) as DkgSessionRow | undefined;
  }
  dkgForKey(keyId: string): DkgSessionRow | undefined {
    return this.db.prepare('SELECT * FROM dkg_sessions WHERE key_id = ?').get(keyId) as DkgSessionRow | undefined;
  }
  insertDkg(r: { id: string; key_id: string; params: string; round: string; sealed_state: Uint8Array; output: string }): void {
    this.db.prepare(`INSERT INTO dkg_sessions (id, key_id, params, round, sealed_state, inputs_digest, output, status) VALUES (?, ?, ?, ?, ?, NULL, ?, 'running')`)
      .run(r.id, r.key_id, r.params, r.round, r.sealed_state, r.output);
  }
  advanceDkg(id: string, round: string, sealedState: Uint8Array | null, inputsDigest: string, output: string, status: 'running' | 'done'): void {
    this.db.prepare('UPDATE dkg_sessions SET round = ?, sealed_state = ?, inputs_digest = ?, output = ?, status = ? WHERE id = ?')
      .run(round, sealedState, inputsDigest, output, status, id);
  }
  abortDkg(id: string, error: string): void {
    // The sealed state is dropped: an aborted session's material is never used again.
    this.db.prepare(`UPDATE dkg_sessions SET status = 'aborted', sealed_state = NULL, error = ? WHERE id = ?`).run(error, id);
  }

  // --- replay protection
  /** Records that (session, round, sender) was received. Refuses a second, different message. */
  recordSeen(session: string, round: string, sender: string, digest: string): 'new' | 'same' {
    const row = this.db.prepare('SELECT digest FROM seen_messages WHERE session = ? AND round = ? AND sender = ?').get(session, round, sender) as { digest: string } | undefined;
    if (row) {
      if (row.digest === digest) return 'same';
      throw new ReuseError('envelope.replayed', `a different message from ${sender} for round ${round} of session ${session} was already received`, 'coordinator');
    }
    this.db.prepare('INSERT INTO seen_messages (session, round, sender, digest) VALUES (?, ?, ?, ?)').run(session, round, sender, digest);
    return 'new';
  }

  // --- nonces
  insertNonce(r: { id: string; key_id: string; quorum: string; commitment: string; sealed: Uint8Array }): void {
    this.db.prepare(`INSERT INTO nonces (id, key_id, quorum, commitment, sealed, state, created_at) VALUES (?, ?, ?, ?, ?, 'ready', ?)`)
      .run(r.id, r.key_id, r.quorum, r.commitment, r.sealed, new Date().toISOString());
  }
  getNonce(id: string): NonceRow | undefined {
    return this.db.prepare('SELECT id, key_id, quorum, commitment, sealed, state, session FROM nonces WHERE id = ?').get(id) as NonceRow | undefined;
  }
  reserveNonce(id: string, session: string): void {
    this.db.prepare(`UPDATE nonces SET state = 'reserved', session = ? WHERE id = ?`).run(session, id);
  }
  /** Burns a nonce: the sealed blob is deleted, so even this node cannot use it again. */
  burnNonce(id: string): void {
    this.db.prepare(`UPDATE nonces SET state = 'burned', sealed = NULL WHERE id = ?`).run(id);
  }
  countReadyNonces(keyId: string): number {
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM nonces WHERE key_id = ? AND state = 'ready'`).get(keyId) as { n: number }).n;
  }

  /**
   * Durable record that nonce `nonceId` of `owner` was consumed by `session` under `binding`
   * (hash of key, message and commitment list). A second consumption under another binding is
   * refused: this is what stops a rolled-back peer from using the nonce again.
   */
  consumeNonce(owner: string, nonceId: string, session: string, binding: string): void {
    const row = this.db.prepare('SELECT session, binding FROM nonce_consumption WHERE owner = ? AND nonce_id = ?').get(owner, nonceId) as { session: string; binding: string } | undefined;
    if (row) {
      if (row.session === session && row.binding === binding) return;
      throw new ReuseError('nonce.reused', `nonce ${nonceId} of ${owner} was already consumed by session ${row.session}; refusing to let it sign again`, 'coordinator', { owner, nonce: nonceId });
    }
    this.db.prepare('INSERT INTO nonce_consumption (owner, nonce_id, session, binding) VALUES (?, ?, ?, ?)').run(owner, nonceId, session, binding);
  }

  // --- sign sessions
  getSign(id: string): SignSessionRow | undefined {
    return this.db.prepare('SELECT * FROM sign_sessions WHERE id = ?').get(id) as SignSessionRow | undefined;
  }
  insertSign(r: Omit<SignSessionRow, 'share'>): void {
    this.db.prepare('INSERT INTO sign_sessions (id, key_id, own_nonce, binding, request, receipt, share) VALUES (?, ?, ?, ?, ?, ?, NULL)')
      .run(r.id, r.key_id, r.own_nonce, r.binding, r.request, r.receipt);
  }
  setSignShare(id: string, share: string): void {
    this.db.prepare('UPDATE sign_sessions SET share = ? WHERE id = ?').run(share, id);
  }

}
