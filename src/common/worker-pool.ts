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
type Slot = { w: Worker; pending: Map<number, Pending> };

export class WorkerPool {
  readonly #entry: URL;
  readonly #slots: Slot[] = [];
  #next = 0;
  #closed = false;

  constructor(entry: URL, size: number) {
    this.#entry = entry;
    for (let i = 0; i < size; i++) this.#slots.push(this.#spawn());
  }

  #spawn(): Slot {
    const w = new Worker(this.#entry, { execArgv: ['--disable-warning=ExperimentalWarning'] });
    const slot: Slot = { w, pending: new Map() };
    w.unref();
    w.on('message', (m: { id: number; ok: boolean; value?: unknown; error?: WorkerFailure }) => {
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(revive(m.error!));
    });
    // A worker that dies fails only its own jobs, and is replaced: the pool never hands work to a
    // dead thread (whose jobs would otherwise wait forever).
    const died = (e: unknown) => {
      for (const p of slot.pending.values()) p.reject(new CustosError('worker.crashed', `a protocol worker failed: ${(e as Error)?.message ?? 'it exited'}`, { status: 500 }));
      slot.pending.clear();
      const i = this.#slots.indexOf(slot);
      if (i >= 0 && !this.#closed) this.#slots[i] = this.#spawn();
    };
    w.on('error', died);
    w.on('exit', (code) => { if (this.#slots.includes(slot)) died(new Error(`exited with code ${code}`)); });
    return slot;
  }

  /** Runs `task` with `args` on the least busy worker. */
  run<T>(task: string, args: unknown): Promise<T> {
    if (this.#closed) return Promise.reject(new CustosError('worker.closed', 'the worker pool is closed', { status: 503 }));
    const slot = this.#slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      slot.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      slot.w.postMessage({ id, task, args });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const slots = this.#slots.splice(0);
    await Promise.all(slots.map((s) => s.w.terminate()));
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
