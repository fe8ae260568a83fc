import type { FastifyInstance } from 'fastify';
import { fromHex, toHex } from '../common/bytes.ts';
import { AuthenticationError, ConfigError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { Keystore } from '../hsm/keystore.ts';
import { packHex, parseCall, plain, unpackHex, type AirgapAnswer } from '../wire/airgap-items.ts';
import { bundleTime, openBundle, sealBundle } from '../wire/bundle.ts';
import { BundleStreams } from '../wire/bundle-streams.ts';
import type { Genesis } from '../wire/genesis.ts';
import type { TrustedTime } from '../wire/time-attestation.ts';
import { buildNodeServer } from './server.ts';
import { NodeService } from './service.ts';
import type { NodeStore } from './store.ts';

/**
 * The offline node: the same NodeService (signer core, policy gate, audit log) and the same routes
 * and schemas as an online node, driven by bundles instead of a socket. Nothing here listens or
 * connects: a bundle from the coordinator is opened (signature, addressing, sequence), its calls
 * are served in order through the node's own routes (an allowlist: no route that would reveal
 * more than an online node reveals), and the answers go back in one signed bundle.
 *
 * Time: this node has no trusted clock. A bundle's time attestations by online nodes give the
 * earliest and latest plausible time; the policy runs timelocks, cooldowns and time windows on the
 * earliest and expiries on the latest (time-attestation.ts). A call that needs time in a bundle
 * without attestations is refused with `time.unattested`.
 */
const ALLOWED: readonly [string, RegExp][] = [
  ['GET', /^\/v1\/(info|keys|policy)$/],
  ['GET', /^\/v1\/keys\/[A-Za-z0-9._:-]+\/public$/],
  ['POST', /^\/v1\/dkg\/(round1|round2|finish|confirm)$/],
  ['POST', /^\/v1\/presign\/(round1|round2|round3)$/],
  ['POST', /^\/v1\/(nonces|sign\/reserve|sign\/share|sign\/ecdsa|policy|requests\/register|policy\/evaluate)$/],
];

export type OfflineOptions = {
  id: string;
  genesis: Genesis;
  keystore: Keystore;
  store: NodeStore;
  logger: Logger;
  /** The online nodes whose clocks are trusted (default: every other node of the genesis). */
  timeAttesters?: string[];
  /**
   * How many of them a bundle must carry (default: all of them). The coordinator picks what goes
   * into a bundle: with fewer than all, it could pick the one attester whose clock suits it.
   */
  minTimeAttestations?: number;
  /** Largest spread between attested times (default 600 s): what one skewed attester can shift. */
  maxSkewSeconds?: number;
};

export type ImportResult = { seq: number; kind: string; calls: number; failed: number; answerSeq: number; answer: Uint8Array; time?: { earliest: string; latest: string; attestedBy: string[] } };

export class OfflineNode {
  readonly id: string;
  readonly service: NodeService;
  readonly #app: FastifyInstance;
  readonly #streams: BundleStreams;
  readonly #genesis: Genesis;
  readonly #ks: Keystore;
  readonly #store: NodeStore;
  readonly #log: Logger;
  readonly #o: OfflineOptions;
  #time: TrustedTime | undefined;
  readonly #attesters: Record<string, Uint8Array>;
  readonly #minAttestations: number;

  constructor(o: OfflineOptions) {
    if (!o.genesis.coordinator?.identityKey) throw new ConfigError('the genesis names no coordinator identity key: an offline node cannot authenticate bundles without it');
    this.#o = o;
    this.id = o.id;
    this.#genesis = o.genesis;
    this.#ks = o.keystore;
    this.#store = o.store;
    this.#log = o.logger;
    this.#streams = new BundleStreams(o.store.db);
    const attesters = o.timeAttesters ?? o.genesis.nodes.map((n) => n.id).filter((id) => id !== o.id);
    const unknown = attesters.filter((id) => id === o.id || !o.genesis.nodes.some((n) => n.id === id));
    if (unknown.length) throw new ConfigError(`time attesters must be other nodes of the genesis: ${unknown.join(', ')}`);
    this.#attesters = Object.fromEntries(attesters.map((id) => [id, fromHex(o.genesis.nodes.find((n) => n.id === id)!.identityKey, 'identity key', 33)]));
    this.#minAttestations = o.minTimeAttestations ?? attesters.length;
    if (this.#minAttestations > attesters.length) throw new ConfigError(`minTimeAttestations (${this.#minAttestations}) exceeds the ${attesters.length} time attester(s)`);
    const unattested = () => new AuthenticationError('time.unattested', `${o.id} is offline and has no trusted clock: this bundle carries no time attestation from an online node, so time-based rules cannot be decided`);
    this.service = new NodeService({
      id: o.id, genesis: o.genesis, keystore: o.keystore, store: o.store, logger: o.logger,
      clock: () => { if (!this.#time) throw unattested(); return this.#time.earliest; },
      expiryClock: () => { if (!this.#time) throw unattested(); return this.#time.latest; },
    });
    this.#app = buildNodeServer(this.service, o.logger);
  }

  get cluster(): string { return this.service.cluster; }

  /**
   * Opens a coordinator bundle, serves its calls and seals the answer. A bundle that fails any
   * check (tampered, replayed, misaddressed, truncated, out of order, bad time attestations) is
   * refused before any call is served. Each call is idempotent on replay (rounds answer their
   * stored output, a burned presignature its stored partial), so the sequence number is recorded
   * with the answer after the calls: a crash in between means importing the same bundle again.
   */
  async importBundle(bytes: Uint8Array): Promise<ImportResult> {
    const b = openBundle(bytes, {
      cluster: this.cluster, self: this.id,
      identityKeys: { coordinator: fromHex(this.#genesis.coordinator!.identityKey, 'coordinator identity key', 33) },
      lastSeq: (from) => this.#streams.lastIn(from),
    });
    const calls = b.items.map((x, i) => parseCall(unpackHex(x), i));
    const time = b.timeAttestations?.length
      ? bundleTime(b, { identityKeys: this.#attesters, minCount: this.#minAttestations, maxSkewSeconds: this.#o.maxSkewSeconds ?? 600 })
      : undefined;
    this.#time = time;
    const answers: AirgapAnswer[] = [];
    try {
      for (const c of calls) answers.push(await this.#serve(c));
    } finally {
      this.#time = undefined;
    }
    const answerSeq = this.#streams.lastOut(b.from) + 1;
    const answer = sealBundle({
      cluster: this.cluster, from: this.id, to: b.from, seq: answerSeq, kind: 'answer', sessions: b.sessions,
      createdAt: new Date().toISOString(), items: answers.map(packHex),
    }, (m) => this.#ks.signIdentity(m));
    this.#store.tx(() => {
      this.#streams.accept(b.from, b.seq);
      this.#streams.sent(b.from, answerSeq, answer);
    });
    const failed = answers.filter((a) => a.status >= 400).length;
    this.#log.info('airgap.imported', { seq: b.seq, kind: b.kind, calls: calls.length, failed, answerSeq });
    return { seq: b.seq, kind: b.kind, calls: calls.length, failed, answerSeq, answer, ...(time ? { time: { earliest: time.earliest.toISOString(), latest: time.latest.toISOString(), attestedBy: time.attestedBy } } : {}) };
  }

  async #serve(c: { id: string; method: 'GET' | 'POST'; path: string; body?: unknown }): Promise<AirgapAnswer> {
    if (!ALLOWED.some(([m, re]) => m === c.method && re.test(c.path))) {
      return { id: c.id, status: 404, body: { code: 'airgap.unknown_call', detail: `${c.method} ${c.path} is not served by an offline node`, status: 404 } };
    }
    const res = await this.#app.inject({ method: c.method, url: c.path, ...(c.body === undefined ? {} : { payload: c.body as object }) });
    let body: unknown;
    try { body = res.json(); } catch { body = { code: 'internal', detail: 'the node answered without JSON', status: 500 }; }
    return { id: c.id, status: res.statusCode, body: plain(body) };
  }

  /** The answer sealed for `seq` (the newest when omitted), to export again. */
  answer(seq?: number): { seq: number; bytes: Uint8Array; createdAt: string } | undefined {
    return this.#streams.sentBundle('coordinator', seq);
  }

  status() {
    return {
      node: this.id, cluster: this.cluster, identityKey: toHex(this.#ks.identityPublicKey()),
      lastBundleIn: this.#streams.lastIn('coordinator'), lastAnswerOut: this.#streams.lastOut('coordinator'),
      keys: this.service.listKeys(), policyVersion: this.service.policy.current()?.version ?? null,
    };
  }

  async close(): Promise<void> {
    await this.#app.close();
  }
}
