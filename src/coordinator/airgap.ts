import { randomUUID } from 'node:crypto';
import { fromHex, toHex } from '../common/bytes.ts';
import { asCustosError, ConfigError, CustosError, NotFoundError, ValidationError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { openBundle } from '../wire/bundle.ts';
import { BundleStreams } from '../wire/bundle-streams.ts';
import type { IdentitySigner } from '../wire/envelope.ts';
import { genesisHash, type Genesis } from '../wire/genesis.ts';
import { parseTimeAttestation, type TimeAttestation } from '../wire/time-attestation.ts';
import { AirgapLink, badParty, type ExportedBundle } from './airgap-link.ts';
import type { Cluster } from './cluster.ts';
import { requiredPartiesOf } from './quorum-retry.ts';
import type { CoordinatorStore } from './store.ts';

/**
 * The coordinator's offline nodes: one AirgapLink each (the coordinator's end of the gap), the
 * background jobs that wait on them (key generation, staging), bundle import, and the time the
 * online nodes attest for each outgoing bundle.
 */
export type AirgapJob = { id: string; kind: 'dkg' | 'stage' | 'policy'; state: 'waiting' | 'done' | 'failed'; detail: Record<string, unknown>; result?: unknown; error?: { code: string; detail: string }; createdAt: string; updatedAt: string };

const MAX_JOBS = 1000;

export class Airgap {
  readonly links = new Map<string, AirgapLink>();
  readonly #jobs = new Map<string, AirgapJob>();
  readonly #cluster: Cluster;
  readonly #genesis: Genesis;
  readonly #streams: BundleStreams;
  readonly #log: Logger;

  constructor(o: { cluster: Cluster; genesis: Genesis; store: CoordinatorStore; sign: IdentitySigner | undefined; log: Logger }) {
    this.#cluster = o.cluster;
    this.#genesis = o.genesis;
    this.#log = o.log;
    this.#streams = new BundleStreams(o.store.db);
    for (const party of o.cluster.offline) {
      if (!o.sign) throw new ConfigError(`node ${party} is offline, and bundles to it must be signed by the coordinator's identity key: the coordinator needs its HSM token (hsm.json)`);
      const link = new AirgapLink({ party, cluster: genesisHash(o.genesis), streams: this.#streams, tx: (fn) => o.store.tx(fn), sign: o.sign, attest: (d) => this.#attest(d), log: o.log });
      this.links.set(party, link);
      o.cluster.attachOffline(party, link.client());
    }
  }

  get enabled(): boolean { return this.links.size > 0; }

  link(party?: string): AirgapLink {
    if (party === undefined) {
      if (this.links.size === 1) return [...this.links.values()][0];
      throw new ValidationError(this.links.size === 0 ? 'this coordinator has no offline node' : `name the offline node (one of ${[...this.links.keys()].join(', ')})`, { code: 'airgap.which_party' });
    }
    const l = this.links.get(party);
    if (!l) throw badParty(party);
    return l;
  }

  /** Runs `fn` as a flow of every offline party in `parties` (nested), so exports wait for it. */
  track<T>(parties: readonly string[], kind: string, fn: () => Promise<T>): Promise<T> {
    const links = parties.flatMap((p) => (this.links.has(p) ? [this.links.get(p)!] : []));
    return links.reduce<() => Promise<T>>((inner, l) => () => l.track(kind, inner), fn)();
  }

  /** The offline parties a key's signatures wait on (its required parties that are offline here). */
  offlineSignersOf(key: { group_public: string }): string[] {
    return requiredPartiesOf(key).filter((p) => this.links.has(p));
  }

  /** Starts a background job; its state is visible at GET /v1/airgap/jobs/{id} while this process lives. */
  job(kind: AirgapJob['kind'], detail: Record<string, unknown>, run: () => Promise<unknown>): AirgapJob {
    const now = new Date().toISOString();
    const j: AirgapJob = { id: randomUUID(), kind, state: 'waiting', detail, createdAt: now, updatedAt: now };
    this.#jobs.set(j.id, j);
    // Kept while the process lives, but not without bound: the oldest finished ones go first.
    if (this.#jobs.size > MAX_JOBS) for (const [id, old] of this.#jobs) { if (this.#jobs.size <= MAX_JOBS) break; if (old.state !== 'waiting') this.#jobs.delete(id); }
    void run().then((result) => { j.state = 'done'; j.result = result; }, (e) => {
      const err = asCustosError(e);
      j.state = 'failed';
      j.error = { code: err.code, detail: err.message };
      this.#log.warn('airgap.job_failed', { job: j.id, kind, code: err.code });
    }).finally(() => { j.updatedAt = new Date().toISOString(); });
    return j;
  }

  jobView(id: string): AirgapJob {
    const j = this.#jobs.get(id);
    if (!j) throw new NotFoundError('airgap_job', id);
    return j;
  }

  status() {
    return { parties: [...this.links.values()].map((l) => l.status()), jobs: [...this.#jobs.values()].slice(-50) };
  }

  /** Waits up to `waitMs` for the outgoing bundle to be complete, then seals it. */
  async export(party: string | undefined, waitMs: number): Promise<ExportedBundle> {
    const link = this.link(party);
    await link.whenReady(waitMs);
    const out = await link.exportBundle();
    if (!out) throw new CustosError('airgap.nothing_to_export', `nothing is waiting on ${link.party}`, { status: 409 });
    return out;
  }

  /** Opens an answer bundle from an offline node (every check of openBundle) and resumes its sessions. */
  import(bytes: Uint8Array) {
    const keys = Object.fromEntries([...this.links.keys()].map((p) => [p, fromHex(this.#genesis.nodes.find((n) => n.id === p)!.identityKey, 'identity key', 33)]));
    const b = openBundle(bytes, { cluster: genesisHash(this.#genesis), self: 'coordinator', identityKeys: keys, lastSeq: (from) => this.#streams.lastIn(from) });
    if (b.kind !== 'answer') throw new ValidationError(`bundle ${b.seq} from ${b.from} is a ${b.kind} bundle, not an answer`, { code: 'bundle.wrong_kind' });
    return { party: b.from, ...this.link(b.from).accept(b) };
  }

  /** Every reachable online node signs its clock for the bundle; unreachable ones are left out. */
  async #attest(digest: Uint8Array): Promise<TimeAttestation[]> {
    const online = this.#cluster.onlineIds();
    const got = await Promise.allSettled(online.map((id) => this.#cluster.client(id).post<{ node: string; time: string; bundle: string; sig: string }>('/v1/time/attest', { bundle: toHex(digest) }, 5000)));
    const out: TimeAttestation[] = [];
    got.forEach((g, i) => {
      if (g.status !== 'fulfilled') { this.#log.warn('airgap.attest_failed', { node: online[i] }); return; }
      try {
        const a = g.value;
        out.push(parseTimeAttestation({ node: a.node, time: a.time, bundle: fromHex(a.bundle, 'bundle', 32), sig: fromHex(a.sig, 'sig', 64) }, `time attestation of ${online[i]}`));
      } catch { this.#log.warn('airgap.attest_malformed', { node: online[i] }); }
    });
    return out;
  }
}
