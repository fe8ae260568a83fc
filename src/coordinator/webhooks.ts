import { randomUUID } from 'node:crypto';
import { NotFoundError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { SIGNATURE_HEADER, signWebhook } from './webhook-signature.ts';
import { deliveryView, type Delivery, type DueDelivery, type WebhookStore } from './webhook-store.ts';

export type WebhookDispatcherOptions = {
  store: WebhookStore;
  log: Logger;
  /** Clock in milliseconds; tests drive it by hand. */
  now?: () => number;
  fetch?: typeof fetch;
  /** Attempts before a delivery is marked failed (default 8). */
  maxAttempts?: number;
  /** Delay after the first failure (default 1 s); doubles each failure. */
  baseDelayMs?: number;
  /** Cap of the retry delay (default 1 h). */
  maxDelayMs?: number;
  /** Per attempt, for the whole exchange (default 10 s). */
  timeoutMs?: number;
  /** Attempts in flight at once, so one slow receiver does not hold up the others (default 4). */
  concurrency?: number;
  /** Due deliveries taken per run (default 500). */
  batch?: number;
};

/** Delay before the next attempt after `attempts` failed ones: base·2^(attempts−1), capped; no jitter. */
export function retryDelayMs(attempts: number, baseDelayMs: number, maxDelayMs: number): number {
  return Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, attempts - 1));
}

/** The URL as it may be logged: no credentials, query or fragment (they may carry a receiver's token). */
export function loggableUrl(url: string): string {
  try {
    const u = new URL(url);
    return u.origin + u.pathname;
  } catch {
    return '(invalid url)';
  }
}

/**
 * Sends webhook events: `emit` records one pending delivery per subscriber (durably, before
 * anything is sent), and `runDue` attempts what is due. A 2xx answer delivers; anything else, a
 * network error or a timeout schedules a retry with exponential backoff until `maxAttempts`,
 * then the delivery is failed (an operator can resend it). Redirects are not followed.
 */
export class WebhookDispatcher {
  readonly store: WebhookStore;
  readonly log: Logger;
  readonly now: () => number;
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly batch: number;
  readonly #fetch: typeof fetch;
  readonly #inflight = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #run: Promise<number> | undefined;
  #kicked = false;

  constructor(opts: WebhookDispatcherOptions) {
    this.store = opts.store;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.#fetch = opts.fetch ?? fetch;
    this.maxAttempts = opts.maxAttempts ?? 8;
    this.baseDelayMs = opts.baseDelayMs ?? 1000;
    this.maxDelayMs = opts.maxDelayMs ?? 3_600_000;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.concurrency = opts.concurrency ?? 4;
    this.batch = opts.batch ?? 500;
    if (!(this.maxAttempts >= 1) || !(this.baseDelayMs >= 0) || !(this.maxDelayMs >= this.baseDelayMs) || !(this.timeoutMs > 0) || !(this.concurrency >= 1)) {
      throw new RangeError('webhook dispatcher options out of range');
    }
  }

  /**
   * Records `event` for every enabled webhook subscribed to it (by name or '*'), in one
   * transaction, and returns the delivery ids. Synchronous: nothing is sent here. Throws only if
   * the database fails or `data` cannot be serialised (a BigInt), so an event is never lost silently.
   */
  emit(event: string, data: Record<string, unknown>): string[] {
    const hooks = this.store.subscribers(event);
    if (hooks.length === 0) return [];
    const nowMs = this.now();
    const createdAt = new Date(nowMs).toISOString();
    const rows = hooks.map((w) => {
      const id = randomUUID();
      // The exact bytes are stored, so every retry sends the same body (only the signature's
      // timestamp changes) and receivers can deduplicate on `id`.
      return { id, webhookId: w.id, event, payload: JSON.stringify({ id, event, createdAt, data }) };
    });
    this.store.insertDeliveries(rows, nowMs);
    this.#kick();
    return rows.map((r) => r.id);
  }

  /** Attempts every due pending delivery once; returns the number of attempts made. */
  async runDue(): Promise<number> {
    const due = this.store.dueDeliveries(this.now(), this.batch).filter((d) => !this.#inflight.has(d.id));
    for (const d of due) this.#inflight.add(d.id);
    let next = 0;
    const worker = async () => {
      while (next < due.length) {
        const d = due[next++];
        try {
          await this.#attempt(d);
        } catch (e) {
          // Recording failed (the database is gone): the row stays pending and is retried later.
          this.log.error('webhook.record_failed', { delivery: d.id, webhook: d.webhook_id, error: e instanceof Error ? e.message.slice(0, 200) : 'error' });
        } finally {
          this.#inflight.delete(d.id);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, due.length) }, worker));
    return due.length;
  }

  /** Polls for due deliveries every `intervalMs`; an emit also triggers a run at once. */
  start(intervalMs = 1000): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#tick(), intervalMs);
    this.#timer.unref();
    this.#tick();
  }

  /** Stops polling; the returned promise settles when the run in progress (if any) has finished. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#run?.catch(() => 0);
  }

  /**
   * Makes a delivery pending and due now, whatever its state (a delivered one is sent again).
   * Its attempt count is kept: a delivery whose retries were used up gets one more attempt.
   */
  resend(deliveryId: string): Delivery {
    const row = this.store.resetToPending(deliveryId, this.now());
    if (!row) throw new NotFoundError('delivery', deliveryId);
    this.log.info('webhook.resend', { delivery: row.id, webhook: row.webhook_id, eventName: row.event });
    this.#kick();
    return deliveryView(row);
  }

  async #attempt(d: DueDelivery): Promise<void> {
    const url = loggableUrl(d.url);
    let httpStatus: number | null = null;
    let error: string | null = null;
    try {
      const res = await this.#fetch(d.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'custos-webhooks',
          [SIGNATURE_HEADER]: signWebhook(d.secret, d.payload, Math.floor(this.now() / 1000)),
          'custos-event': d.event,
          'custos-delivery': d.id,
        },
        body: d.payload,
      });
      httpStatus = res.status;
      // The answer's body is not needed; dropping it frees the connection.
      await res.body?.cancel().catch(() => undefined);
      if (res.status < 200 || res.status > 299) error = `http ${res.status}`;
    } catch (e) {
      error = describeFailure(e);
    }
    const nowMs = this.now();
    const fields = { delivery: d.id, webhook: d.webhook_id, eventName: d.event, url, attempt: d.attempts + 1 };
    if (error === null) {
      this.store.recordAttempt(d.id, { status: 'delivered', nextAttemptAt: nowMs, lastError: null, lastStatus: httpStatus }, nowMs);
      this.log.info('webhook.delivered', { ...fields, status: httpStatus });
    } else if (d.attempts + 1 >= this.maxAttempts) {
      this.store.recordAttempt(d.id, { status: 'failed', nextAttemptAt: nowMs, lastError: error, lastStatus: httpStatus }, nowMs);
      this.log.error('webhook.failed', { ...fields, error, status: httpStatus });
    } else {
      const nextAttemptAt = nowMs + retryDelayMs(d.attempts + 1, this.baseDelayMs, this.maxDelayMs);
      this.store.recordAttempt(d.id, { status: 'pending', nextAttemptAt, lastError: error, lastStatus: httpStatus }, nowMs);
      this.log.warn('webhook.retry', { ...fields, error, status: httpStatus, nextAttemptAt: new Date(nextAttemptAt).toISOString() });
    }
  }

  #tick(): void {
    if (this.#run) return;
    this.#run = this.runDue().catch((e) => {
      this.log.error('webhook.run_failed', { error: e instanceof Error ? e.message.slice(0, 200) : 'error' });
      return 0;
    }).finally(() => {
      this.#run = undefined;
      if (this.#kicked && this.#timer) { this.#kicked = false; this.#tick(); }
    });
  }

  /** While started, new work is attempted at once rather than at the next poll. */
  #kick(): void {
    if (!this.#timer) return;
    if (this.#run) { this.#kicked = true; return; }
    setImmediate(() => { if (this.#timer) this.#tick(); });
  }
}

/** A short, secret-free reason: our timeout, or the network error's code. */
function describeFailure(e: unknown): string {
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) return 'timeout';
  const cause = (e as { cause?: { code?: unknown; name?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === 'string') return `network ${cause.code}`.slice(0, 100);
  if (cause && (cause.name === 'TimeoutError' || cause.name === 'AbortError')) return 'timeout';
  return 'network error';
}
