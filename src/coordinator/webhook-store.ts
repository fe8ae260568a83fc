import type { DatabaseSync } from 'node:sqlite';

/**
 * Webhook subscriptions and their deliveries, in the coordinator's database. A delivery row is
 * written before the first attempt (an outbox), so a coordinator that crashes loses no event:
 * pending rows are simply due again after a restart. Delivery is therefore at least once.
 *
 * Webhook secrets are stored in clear because the coordinator must compute HMACs with them;
 * they only authenticate the coordinator to receivers and never leave through the API after
 * creation.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS webhooks (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  events TEXT NOT NULL,
  secret TEXT NOT NULL,
  created_at TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id TEXT PRIMARY KEY,
  webhook_id TEXT NOT NULL,
  event TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT,
  last_status INTEGER,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, created_at);
`;

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'failed'];

export type WebhookRow = { id: string; url: string; events: string; secret: string; created_at: string; disabled: number };
export type DeliveryRow = {
  id: string; webhook_id: string; event: string; payload: string; status: DeliveryStatus; attempts: number;
  next_attempt_at: number; last_error: string | null; last_status: number | null; created_at: string; updated_at: string;
};
/** A due delivery with what is needed to send it. */
export type DueDelivery = DeliveryRow & { url: string; secret: string };

/** A subscription as the API shows it: never the secret. */
export type Webhook = { id: string; url: string; events: string[]; createdAt: string; disabled: boolean };
/** A delivery as the API shows it; `nextAttemptAt` only while pending. */
export type Delivery = {
  id: string; webhookId: string; event: string; status: DeliveryStatus; attempts: number; nextAttemptAt?: string;
  lastError?: string; lastStatus?: number; createdAt: string; updatedAt: string;
};

export function webhookView(r: WebhookRow): Webhook {
  return { id: r.id, url: r.url, events: JSON.parse(r.events) as string[], createdAt: r.created_at, disabled: r.disabled !== 0 };
}

export function deliveryView(r: DeliveryRow): Delivery {
  const v: Delivery = { id: r.id, webhookId: r.webhook_id, event: r.event, status: r.status, attempts: r.attempts, createdAt: r.created_at, updatedAt: r.updated_at };
  if (r.status === 'pending') v.nextAttemptAt = new Date(r.next_attempt_at).toISOString();
  if (r.last_error !== null) v.lastError = r.last_error;
  if (r.last_status !== null) v.lastStatus = r.last_status;
  return v;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class WebhookStore {
  readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
    this.db.exec(SCHEMA);
  }

  insertWebhook(w: { id: string; url: string; events: string[]; secret: string; nowMs: number }): WebhookRow {
    const row: WebhookRow = { id: w.id, url: w.url, events: JSON.stringify(w.events), secret: w.secret, created_at: iso(w.nowMs), disabled: 0 };
    this.db.prepare('INSERT INTO webhooks (id, url, events, secret, created_at, disabled) VALUES (?, ?, ?, ?, ?, 0)').run(row.id, row.url, row.events, row.secret, row.created_at);
    return row;
  }
  getWebhook(id: string): WebhookRow | undefined {
    return this.db.prepare('SELECT * FROM webhooks WHERE id = ?').get(id) as WebhookRow | undefined;
  }
  listWebhooks(): WebhookRow[] {
    return this.db.prepare('SELECT * FROM webhooks ORDER BY created_at, id').all() as WebhookRow[];
  }
  /** A disabled webhook gets no new deliveries, and its pending ones wait (they are not dropped). */
  setDisabled(id: string, disabled: boolean): boolean {
    return Number(this.db.prepare('UPDATE webhooks SET disabled = ? WHERE id = ?').run(disabled ? 1 : 0, id).changes) > 0;
  }
  /** Removes the subscription, its secret and its delivery history. */
  deleteWebhook(id: string): boolean {
    return this.#atomically(() => {
      this.db.prepare('DELETE FROM webhook_deliveries WHERE webhook_id = ?').run(id);
      return Number(this.db.prepare('DELETE FROM webhooks WHERE id = ?').run(id).changes) > 0;
    });
  }

  /** Enabled webhooks subscribed to `event`, by name or by '*'. */
  subscribers(event: string): WebhookRow[] {
    return this.db.prepare(`SELECT * FROM webhooks w WHERE w.disabled = 0 AND EXISTS (SELECT 1 FROM json_each(w.events) e WHERE e.value = ? OR e.value = '*') ORDER BY w.created_at, w.id`).all(event) as WebhookRow[];
  }

  /** Inserts pending deliveries, all or none, due at `nowMs`. */
  insertDeliveries(list: { id: string; webhookId: string; event: string; payload: string }[], nowMs: number): void {
    if (list.length === 0) return;
    const st = this.db.prepare(`INSERT INTO webhook_deliveries (id, webhook_id, event, payload, status, attempts, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)`);
    const at = iso(nowMs);
    this.#atomically(() => { for (const d of list) st.run(d.id, d.webhookId, d.event, d.payload, nowMs, at, at); });
  }
  getDelivery(id: string): DeliveryRow | undefined {
    return this.db.prepare('SELECT * FROM webhook_deliveries WHERE id = ?').get(id) as DeliveryRow | undefined;
  }
  /** Newest first. */
  listDeliveries(webhookId: string, opts: { status?: DeliveryStatus; limit?: number } = {}): DeliveryRow[] {
    const limit = opts.limit ?? 100;
    return (opts.status
      ? this.db.prepare('SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND status = ? ORDER BY created_at DESC, id LIMIT ?').all(webhookId, opts.status, limit)
      : this.db.prepare('SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY created_at DESC, id LIMIT ?').all(webhookId, limit)) as DeliveryRow[];
  }
  /** Pending deliveries of enabled webhooks whose time has come, oldest due first. */
  dueDeliveries(nowMs: number, limit: number): DueDelivery[] {
    return this.db.prepare(`SELECT d.*, w.url AS url, w.secret AS secret FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
      WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND w.disabled = 0 ORDER BY d.next_attempt_at, d.created_at, d.id LIMIT ?`).all(nowMs, limit) as DueDelivery[];
  }
  /**
   * Records one attempt. Only a pending row changes: an attempt that raced a delete, or a row
   * already settled, is not rewritten.
   */
  recordAttempt(id: string, outcome: { status: DeliveryStatus; nextAttemptAt: number; lastError: string | null; lastStatus: number | null }, nowMs: number): boolean {
    return Number(this.db.prepare(`UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ?, last_status = ?, updated_at = ? WHERE id = ? AND status = 'pending'`)
      .run(outcome.status, outcome.nextAttemptAt, outcome.lastError, outcome.lastStatus, iso(nowMs), id).changes) > 0;
  }
  /** Makes a delivery pending and due at `nowMs`, whatever its state; attempts are kept. */
  resetToPending(id: string, nowMs: number): DeliveryRow | undefined {
    return this.db.prepare(`UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ? WHERE id = ? RETURNING *`).get(nowMs, iso(nowMs), id) as DeliveryRow | undefined;
  }

  /** A savepoint, not BEGIN: it nests inside a transaction a caller (the coordinator's store) holds. */
  #atomically<T>(fn: () => T): T {
    this.db.exec('SAVEPOINT webhook_store');
    try {
      const out = fn();
      this.db.exec('RELEASE webhook_store');
      return out;
    } catch (e) {
      this.db.exec('ROLLBACK TO webhook_store; RELEASE webhook_store');
      throw e;
    }
  }
}
