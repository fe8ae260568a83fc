import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { CustosError, ValidationError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { packHex, parseAnswer, plain, unpackHex, type AirgapCall } from '../wire/airgap-items.ts';
import { bundleContentDigest, sealBundle, type Bundle, type BundleContent, type BundleKind } from '../wire/bundle.ts';
import type { BundleStreams } from '../wire/bundle-streams.ts';
import type { IdentitySigner } from '../wire/envelope.ts';
import type { TimeAttestation } from '../wire/time-attestation.ts';
import { nodeRefusal, type PartyClient } from './node-client.ts';

/**
 * The coordinator's end of the air gap to one offline node. The coordinator's protocol code is the
 * same for every party: for an offline one, `client()` queues the call instead of sending it, and
 * its promise settles when the answer bundle is imported. A bundle therefore carries, at once, the
 * next call of every session waiting on the offline node: DKG rounds, presigning rounds of any
 * number of batches, hundreds of sign calls. Staging N presignatures takes the protocol's three
 * round trips whatever N is, and a sign batch of any size one.
 *
 * Flows (a DKG, a presigning session, a sign request) run under `track`, so the link knows when
 * every live flow is blocked on the offline node: that is when the outgoing bundle is complete
 * (`whenReady`), rather than after some guessed quiet period.
 *
 * Not durable: queued calls and waiting flows live in this process. A coordinator restart between
 * export and import abandons those sessions (the nodes keep theirs; an unused presignature is only
 * wasted); the stream's sequence numbers and every sent bundle are in the database.
 */
type Waiting = { call: AirgapCall; flow: string | undefined; first: boolean; resolve: (v: unknown) => void; reject: (e: unknown) => void; seq?: number };
type Flow = { kind: string; waiting: number; started: number };

export type AirgapLinkOptions = {
  party: string;
  cluster: string;
  streams: BundleStreams;
  tx: <T>(fn: () => T) => T;
  sign: IdentitySigner;
  /** Online nodes' signed clocks for a bundle's content digest, checked (time-attestation.ts); throws when they fall short. */
  attest: (contentDigest: Uint8Array) => Promise<TimeAttestation[]>;
  log: Logger;
};

/** `busy`: live flows still computing elsewhere when the bundle was sealed (their calls go in the next one). */
export type ExportedBundle = { party: string; seq: number; kind: BundleKind; calls: number; busy: number; bytes: Uint8Array };

export class AirgapLink {
  readonly party: string;
  readonly #o: AirgapLinkOptions;
  #queue: Waiting[] = [];
  readonly #sent = new Map<string, Waiting>();
  readonly #flows = new Map<string, Flow>();
  readonly #als = new AsyncLocalStorage<string>();
  #changed: (() => void)[] = [];
  #exporting = false;

  constructor(o: AirgapLinkOptions) {
    this.#o = o;
    this.party = o.party;
  }

  /**
   * Calls to the offline node: queued, answered when its answer bundle is imported. With `first`,
   * calls go ahead of everything else queued (in the order made): policy versions, so that the
   * sign calls of the same bundle are decided under them.
   */
  client(first = false): PartyClient {
    return {
      id: this.party,
      get: <T>(path: string) => this.#enqueue<T>({ id: randomUUID(), method: 'GET', path }, first),
      post: <T>(path: string, body: unknown) => this.#enqueue<T>({ id: randomUUID(), method: 'POST', path, body: plain(body) }, first),
    };
  }

  /** Runs `fn` as one flow: its offline calls mark it waiting; queued calls die with it. */
  async track<T>(kind: string, fn: () => Promise<T>): Promise<T> {
    const id = randomUUID();
    this.#flows.set(id, { kind, waiting: 0, started: Date.now() });
    try {
      return await this.#als.run(id, fn);
    } finally {
      this.#flows.delete(id);
      // A flow that ended (failed elsewhere, or done) takes its calls with it: the offline node is
      // not asked for work nobody waits for, and nothing is left waiting for an answer.
      const gone = new CustosError('airgap.abandoned', 'the session that made this call has ended', { status: 409 });
      for (const w of this.#queue.filter((x) => x.flow === id)) w.reject(gone);
      this.#queue = this.#queue.filter((w) => w.flow !== id);
      for (const [callId, w] of this.#sent) if (w.flow === id) { this.#sent.delete(callId); w.reject(gone); }
      this.#notify();
    }
  }

  #enqueue<T>(call: AirgapCall, first = false): Promise<T> {
    const flow = this.#als.getStore();
    return new Promise<T>((resolve, reject) => {
      const f = flow === undefined ? undefined : this.#flows.get(flow);
      if (f) f.waiting++;
      const settle = (fn: () => void) => { if (f) f.waiting--; fn(); this.#notify(); };
      const w: Waiting = { call, flow, first, resolve: (v) => settle(() => resolve(v as T)), reject: (e) => settle(() => reject(e)) };
      const at = first ? this.#queue.findIndex((x) => !x.first) : -1;
      if (at >= 0) this.#queue.splice(at, 0, w);
      else this.#queue.push(w);
      this.#notify();
    });
  }

  #notify(): void {
    const fns = this.#changed;
    this.#changed = [];
    for (const f of fns) f();
  }

  /**
   * Whether the outgoing bundle is complete: every live flow waits on the offline node (on a
   * queued call, or on an answer still to come), or no flow is live.
   */
  #ready(): boolean {
    return [...this.#flows.values()].every((f) => f.waiting > 0);
  }

  /** Waits (at most `timeoutMs`) until the outgoing bundle is complete; says whether anything is queued. */
  async whenReady(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!this.#ready() && Date.now() < end) {
      await new Promise<void>((res) => {
        const t = setTimeout(res, Math.max(0, end - Date.now()));
        this.#changed.push(() => { clearTimeout(t); res(); });
      });
    }
    return this.#queue.length > 0;
  }

  /**
   * Seals every queued call into the next bundle of the stream, with the online nodes' time
   * attestations, records it as sent, and returns its bytes. Undefined when nothing is queued.
   */
  async exportBundle(): Promise<ExportedBundle | undefined> {
    if (this.#exporting) throw new CustosError('airgap.busy', `a bundle for ${this.party} is being exported`, { status: 409 });
    if (this.#queue.length === 0) return undefined;
    this.#exporting = true;
    try {
      const batch = this.#queue;
      this.#queue = [];
      const seq = this.#o.streams.lastOut(this.party) + 1;
      const content: BundleContent = {
        cluster: this.#o.cluster, from: 'coordinator', to: this.party, seq, kind: kindOf(batch.map((w) => w.call)),
        sessions: sessionsOf(batch.map((w) => w.call)), createdAt: new Date().toISOString(), items: batch.map((w) => packHex(w.call)),
      };
      let timeAttestations: TimeAttestation[];
      try {
        timeAttestations = await this.#o.attest(bundleContentDigest(content));
      } catch (e) {
        // Time could not be attested (an online node down or lying): nothing is lost, the calls
        // wait for the next export.
        this.#queue = [...batch, ...this.#queue];
        throw e;
      }
      let bytes: Uint8Array;
      try {
        bytes = sealBundle({ ...content, timeAttestations }, this.#o.sign);
        this.#o.tx(() => this.#o.streams.sent(this.party, seq, bytes));
      } catch (e) {
        // What cannot be sealed (too large, data outside the CBOR profile) will not be better later.
        for (const w of batch) w.reject(e);
        throw e;
      }
      for (const w of batch) { w.seq = seq; this.#sent.set(w.call.id, w); }
      const busy = [...this.#flows.values()].filter((f) => f.waiting === 0).length;
      this.#o.log.info('airgap.exported', { party: this.party, seq, kind: content.kind, calls: batch.length, bytes: bytes.length, busy });
      return { party: this.party, seq, kind: content.kind, calls: batch.length, busy, bytes };
    } finally {
      this.#exporting = false;
    }
  }

  /** Settles the calls an opened answer bundle answers; the caller has checked the bundle. */
  accept(b: Bundle): { seq: number; answered: number; unmatched: number } {
    const answers = b.items.map((x, i) => parseAnswer(unpackHex(x), i));
    this.#o.tx(() => this.#o.streams.accept(this.party, b.seq));
    let answered = 0;
    let unmatched = 0;
    for (const a of answers) {
      const w = this.#sent.get(a.id);
      if (!w) { unmatched++; continue; }
      this.#sent.delete(a.id);
      answered++;
      if (a.status >= 200 && a.status < 300) w.resolve(a.body);
      else w.reject(nodeRefusal(this.party, a.status, a.body));
    }
    this.#o.log.info('airgap.imported', { party: this.party, seq: b.seq, answered, unmatched });
    return { seq: b.seq, answered, unmatched };
  }

  status() {
    const flows = [...this.#flows.values()];
    return {
      party: this.party, queued: this.#queue.length, awaitingAnswer: this.#sent.size,
      flows: flows.length, flowsWaiting: flows.filter((f) => f.waiting > 0).length,
      lastSent: this.#o.streams.lastOut(this.party), lastReceived: this.#o.streams.lastIn(this.party),
    };
  }

  /** A bundle sent earlier, to carry it again (a lost file, a QR sequence nobody captured). */
  sentBundle(seq?: number): { seq: number; bytes: Uint8Array } | undefined {
    return this.#o.streams.sentBundle(this.party, seq);
  }
}

function kindOf(calls: AirgapCall[]): BundleKind {
  if (calls.some((c) => c.path.startsWith('/v1/dkg/'))) return 'dkg';
  if (calls.some((c) => c.path.startsWith('/v1/presign/') || c.path === '/v1/nonces')) return 'stage';
  if (calls.every((c) => c.path === '/v1/policy')) return 'policy';
  return 'sign';
}

function sessionsOf(calls: AirgapCall[]): string[] {
  const out = new Set<string>();
  for (const c of calls) {
    const b = c.body as { sessionId?: unknown; presignId?: unknown } | undefined;
    if (typeof b?.sessionId === 'string') out.add(b.sessionId);
    else if (typeof b?.presignId === 'string') out.add(`sign:${b.presignId}`);
  }
  return [...out].slice(0, 10_000);
}

export function badParty(party: string): ValidationError {
  return new ValidationError(`${party} is not an offline node of this coordinator`, { code: 'airgap.unknown_party' });
}
