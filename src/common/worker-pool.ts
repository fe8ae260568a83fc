import { Worker } from 'node:worker_threads';
import { CustosError, ProtocolAbort, type ErrorDetail } from './errors.ts';

/**
 * A small pool of worker threads running named, pure tasks, so CPU-heavy protocol rounds do not
 * hold a server's event loop (and the requests queued behind it). Tasks get and return
 * structured-cloneable values; a CustosError thrown in a worker comes back as the same class
 * with the same code, culprit and detail. Workers are unref'd: an idle pool never keeps a
 * process alive.
 */
export type WorkerFailure = { name: string; code: string; message: string; status: number; culprit?: string; detail?: ErrorDetail };

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void };

export class WorkerPool {
  readonly #workers: { w: Worker; busy: number }[] = [];
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #closed = false;

  constructor(entry: URL, size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(entry, { execArgv: ['--disable-warning=ExperimentalWarning'] });
      const slot = { w, busy: 0 };
      w.unref();
      w.on('message', (m: { id: number; ok: boolean; value?: unknown; error?: WorkerFailure }) => {
        const p = this.#pending.get(m.id);
        if (!p) return;
        this.#pending.delete(m.id);
        slot.busy--;
        if (m.ok) p.resolve(m.value);
        else p.reject(revive(m.error!));
      });
      w.on('error', (e) => this.#failAll(e));
      this.#workers.push(slot);
    }
  }

  /** Runs `task` with `args` on the least busy worker. */
  run<T>(task: string, args: unknown): Promise<T> {
    if (this.#closed) return Promise.reject(new CustosError('worker.closed', 'the worker pool is closed', { status: 503 }));
    const slot = this.#workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.#next++;
    slot.busy++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      slot.w.postMessage({ id, task, args });
    });
  }

  #failAll(e: unknown): void {
    for (const p of this.#pending.values()) p.reject(new CustosError('worker.crashed', `a protocol worker failed: ${(e as Error)?.message ?? 'unknown error'}`, { status: 500 }));
    this.#pending.clear();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#workers.map((s) => s.w.terminate()));
  }
}

/** In the worker: serialise a thrown error for the pool. Only CustosError fields cross. */
export function failureOf(e: unknown): WorkerFailure {
  if (e instanceof CustosError) return { name: e instanceof ProtocolAbort ? 'ProtocolAbort' : 'CustosError', code: e.code, message: e.message, status: e.status, culprit: e.culprit, detail: e.detail };
  // Anything else is a bug; its message could hold anything, so only its class crosses.
  return { name: 'Error', code: 'internal', message: `protocol worker error (${(e as Error)?.name ?? 'unknown'})`, status: 500 };
}

function revive(f: WorkerFailure): CustosError {
  if (f.name === 'ProtocolAbort' && f.culprit) return new ProtocolAbort(f.code, f.culprit, f.message, f.detail);
  return new CustosError(f.code, f.message, { status: f.status, culprit: f.culprit, detail: f.detail });
}
