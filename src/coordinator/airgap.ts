import { randomUUID } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { fromHex, toHex } from '../common/bytes.ts';
import { asCustosError, ConfigError, CustosError, NotFoundError, ValidationError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { openBundle } from '../wire/bundle.ts';
import { BundleStreams } from '../wire/bundle-streams.ts';
import type { IdentitySigner } from '../wire/envelope.ts';
import { genesisHash, type Genesis } from '../wire/genesis.ts';
import { verifyTimeAttestations, type TimeAttestation } from '../wire/time-attestation.ts';
import { AirgapLink, badParty, type ExportedBundle } from './airgap-link.ts';
import type { Cluster } from './cluster.ts';
import { requiredPartiesOf } from './quorum-retry.ts';
import type { CoordinatorStore } from './store.ts';

/**
 * The coordinator's offline nodes: one AirgapLink each (the coordinator's end of the gap), the
 * background jobs that wait on them (key generation, staging), bundle import, and the time the
 * online nodes attest for each outgoing bundle.
 */
export type AirgapJob = { id: string; kind: 'dkg' | 'stage'; state: 'waiting' | 'done' | 'failed'; detail: Record<string, unknown>; result?: unknown; error?: { code: string; detail: string }; createdAt: string; updatedAt: string };

const MAX_JOBS = 1000;
/** The offline node's default limit on the spread of attested times (OfflineNode). */
const MAX_SKEW_SECONDS = 600;

export class Airgap {
  readonly links = new Map<string, AirgapLink>();
  readonly #jobs = new Map<string, AirgapJob>();
  readonly #cluster: Cluster;
  readonly #genesis: Genesis;
  readonly #streams: BundleStreams;
  readonly #log: Logger;
  readonly #db: DatabaseSync;
  /** Policy versions queued or sent to each offline node and not answered yet. */
  readonly #policyInFlight = new Map<string, Set<number>>();

  constructor(o: { cluster: Cluster; genesis: Genesis; store: CoordinatorStore; sign: IdentitySigner | undefined; log: Logger }) {
    this.#cluster = o.cluster;
    this.#genesis = o.genesis;
    this.#log = o.log;
    this.#streams = new BundleStreams(o.store.db);
    this.#db = o.store.db;
    this.#db.exec('CREATE TABLE IF NOT EXISTS airgap_policy (party TEXT PRIMARY KEY, version INTEGER NOT NULL)');
    for (const party of o.cluster.offline) {
      if (!o.sign) throw new ConfigError(`node ${party} is offline, and bundles to it must be signed by the coordinator's identity key: the coordinator needs its HSM token (hsm.json)`);
      const link = new AirgapLink({ party, cluster: genesisHash(o.genesis), streams: this.#streams, tx: (fn) => o.store.tx(fn), sign: o.sign, attest: (d) => this.#attest(d, party), log: o.log });
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

  /**
   * Where the coordinator's signed policy versions come from (RequestStore): every version the
   * offline node has not confirmed travels, first, in every bundle until it confirms it.
   */
  policies: ((after: number) => { version: number; signed: string }[]) | undefined;

  /** The newest policy version `party` confirmed (0 if none). */
  confirmedPolicy(party: string): number {
    return (this.#db.prepare('SELECT version FROM airgap_policy WHERE party = ?').get(party) as { version: number } | undefined)?.version ?? 0;
  }

  #confirm(party: string, version: number): void {
    this.#db.prepare('INSERT INTO airgap_policy (party, version) VALUES (?, ?) ON CONFLICT (party) DO UPDATE SET version = MAX(version, excluded.version)').run(party, version);
  }

  /**
   * Queues, ahead of everything else, each policy version the offline node has not confirmed.
   * A version it already has answers "not activated" (or a rollback refusal): confirmed either way.
   */
  #catchUpPolicy(link: AirgapLink): void {
    const inFlight = this.#policyInFlight.get(link.party) ?? new Set<number>();
    this.#policyInFlight.set(link.party, inFlight);
    const missing = (this.policies?.(this.confirmedPolicy(link.party)) ?? []).filter((p) => !inFlight.has(p.version));
    const client = link.client(true);
    for (const p of missing) {
      const body = JSON.parse(p.signed) as unknown;
      inFlight.add(p.version);
      void link.track('policy', () => client.post<{ version?: number }>('/v1/policy', body)).finally(() => inFlight.delete(p.version)).then(
        (a) => this.#confirm(link.party, typeof a?.version === 'number' ? a.version : p.version),
        (e) => {
          const err = asCustosError(e);
          if (err.code === 'policy.rollback') this.#confirm(link.party, p.version);
          else if (err.code !== 'airgap.abandoned') this.#log.warn('airgap.policy_refused', { party: link.party, version: p.version, code: err.code });
        },
      );
    }
  }

  /** Waits up to `waitMs` for the outgoing bundle to be complete, then seals it. */
  async export(party: string | undefined, waitMs: number): Promise<ExportedBundle> {
    const link = this.link(party);
    await link.whenReady(waitMs);
    this.#catchUpPolicy(link);
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

  /**
   * Every online node signs its clock for the bundle, and the set is checked as the offline node
   * will check it (signatures, digest, skew) before anything is sealed: a bundle the offline node
   * would refuse for its time must not take a sequence number. The offline node requires every
   * online node by default (node.json offline.timeAttesters), so this does too.
   */
  async #attest(digest: Uint8Array, party: string): Promise<TimeAttestation[]> {
    const online = this.#cluster.onlineIds();
    const got = await Promise.allSettled(online.map((id) => this.#cluster.client(id).post<{ node: string; time: string; bundle: string; sig: string }>('/v1/time/attest', { bundle: toHex(digest) }, 5000)));
    const out: TimeAttestation[] = [];
    const missing: string[] = [];
    got.forEach((g, i) => {
      try {
        if (g.status !== 'fulfilled') throw g.reason;
        const a = g.value;
        // Its form, signature and digest are checked with the others below, as the offline node will.
        out.push({ node: a.node, time: a.time, bundle: fromHex(a.bundle, 'bundle', 32), sig: fromHex(a.sig, 'sig', 64) });
      } catch (e) {
        missing.push(`${online[i]} (${asCustosError(e).code})`);
      }
    });
    if (missing.length) throw new CustosError('airgap.unattested', `the offline node needs every online node's signed time for a bundle, and ${missing.join(', ')} did not give it; nothing was sealed, the calls wait for the next export`, { status: 503 });
    const keys = Object.fromEntries(online.map((id) => [id, fromHex(this.#genesis.nodes.find((n) => n.id === id)!.identityKey, 'identity key', 33)]));
    try {
      verifyTimeAttestations(out, { cluster: genesisHash(this.#genesis), identityKeys: keys, recipient: party, bundle: digest, minCount: online.length, maxSkewSeconds: MAX_SKEW_SECONDS });
    } catch (e) {
      const err = asCustosError(e);
      throw new CustosError('airgap.unattested', `the online nodes' time attestations would be refused by ${party}: ${err.message}; nothing was sealed`, { status: 503, detail: { cause: err.code } });
    }
    return out;
  }

}
