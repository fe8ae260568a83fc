import type { FastifyInstance } from 'fastify';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../common/bytes.ts';
import { MAX_BUNDLE_BYTES } from '../wire/bundle.ts';
import { NotFoundError, ValidationError } from '../common/errors.ts';
import { isEcdsa, type Scheme } from '../common/schemes.ts';
import type { Airgap } from './airgap.ts';
import type { Cluster } from './cluster.ts';
import type { EcdsaSigning } from './ecdsa-signing.ts';
import { candidateQuorums, requiredPartiesOf } from './quorum-retry.ts';
import type { SigningService } from './signing.ts';
import type { CoordinatorStore, CoordKeyRow } from './store.ts';

/**
 * The air gap over REST (the CLI's `custos airgap` uses these): status, export of the next bundle
 * for an offline node, a bundle sent earlier, import of its answer, and staging of presignatures
 * or nonce commitments with it. Bundles travel as base64 in JSON.
 */
/** Presignatures per DKLs23 session (the nodes' batch limit); sessions of one stage run side by side. */
const ECDSA_SESSION = 64;
/** Nonce commitments per FROST call (the nodes' limit). */
const FROST_CALL = 1000;
/** Per staging request: DKLs23 staging rounds are ~54 KB per presignature and pair (MAX_BUNDLE_BYTES). */
const MAX_STAGE_ECDSA = 2_000;
const MAX_STAGE = 10_000;
/** An answer for a large staging batch is up to hundreds of MB (MAX_BUNDLE_BYTES), base64 in JSON. */
const IMPORT_BODY_LIMIT = Math.ceil(MAX_BUNDLE_BYTES * 4 / 3) + 1024;

const party = { type: 'string', minLength: 1, maxLength: 200 } as const;

export function registerAirgapRoutes(app: FastifyInstance, d: { airgap: Airgap; store: CoordinatorStore; cluster: Cluster; ecdsa: EcdsaSigning; signing: SigningService }): void {
  const view = (b: { party: string; seq: number; bytes: Uint8Array; kind?: string; calls?: number; busy?: number }) => ({
    party: b.party, seq: b.seq, kind: b.kind, calls: b.calls, busy: b.busy, size: b.bytes.length, sha256: toHex(sha256(b.bytes)), bundle: Buffer.from(b.bytes).toString('base64'),
  });

  app.get('/v1/airgap', async () => d.airgap.status());
  app.get('/v1/airgap/jobs/:id', { schema: { params: { type: 'object', properties: { id: party } } } }, async (req) => d.airgap.jobView((req.params as { id: string }).id));

  app.post('/v1/airgap/export', {
    schema: { body: { type: 'object', additionalProperties: false, properties: { party, waitSeconds: { type: 'integer', minimum: 0, maximum: 600 } } } },
  }, async (req) => {
    const b = (req.body ?? {}) as { party?: string; waitSeconds?: number };
    return view(await d.airgap.export(b.party, (b.waitSeconds ?? 60) * 1000));
  });

  app.get('/v1/airgap/bundles/:party/:seq', { schema: { params: { type: 'object', properties: { party, seq: { type: 'string', pattern: '^[0-9]{1,9}$' } } } } }, async (req) => {
    const p = req.params as { party: string; seq: string };
    const b = d.airgap.link(p.party).sentBundle(Number(p.seq));
    if (!b) throw new NotFoundError('bundle', `${p.party}/${p.seq}`);
    return view({ party: p.party, ...b });
  });

  app.post('/v1/airgap/import', {
    bodyLimit: IMPORT_BODY_LIMIT,
    schema: { body: { type: 'object', additionalProperties: false, required: ['bundle'], properties: { bundle: { type: 'string', maxLength: IMPORT_BODY_LIMIT } } } },
  }, async (req) => {
    const text = (req.body as { bundle: string }).bundle;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new ValidationError('bundle must be base64', { code: 'bundle.malformed' });
    return d.airgap.import(new Uint8Array(Buffer.from(text, 'base64')));
  });

  // Staging: presignatures (DKLs23) or nonce commitments (FROST) for a quorum with the offline
  // node, in sessions that all wait on the same crossings: three round trips for DKLs23 and one
  // for FROST, whatever the count.
  app.post('/v1/keys/:id/stage', {
    schema: {
      params: { type: 'object', properties: { id: party } },
      body: { type: 'object', additionalProperties: false, required: ['count'], properties: { count: { type: 'integer', minimum: 1, maximum: MAX_STAGE }, quorum: { type: 'array', minItems: 2, maxItems: 10, uniqueItems: true, items: party } } },
    },
  }, async (req, reply) => {
    const keyId = (req.params as { id: string }).id;
    const key = d.store.getKey(keyId);
    if (!key) throw new NotFoundError('key', keyId);
    const b = req.body as { count: number; quorum?: string[] };
    const ecdsa = isEcdsa(key.scheme as Scheme);
    if (ecdsa && b.count > MAX_STAGE_ECDSA) throw new ValidationError(`stage at most ${MAX_STAGE_ECDSA} DKLs23 presignatures per request (each crossing must fit one bundle); make several requests`, { code: 'stage.too_many' });
    const required = requiredPartiesOf(key);
    if (!required.some((p) => d.cluster.isOffline(p))) throw new ValidationError(`key ${key.id} is not a cold key with an offline node: its pools are kept full in the background, and its signatures never wait on the air gap`, { code: 'stage.not_cold' });
    const quorum = b.quorum ?? pickQuorum(d, key);
    const parties = JSON.parse(key.parties) as string[];
    const ordered = parties.filter((p) => quorum.includes(p));
    if (quorum.some((p) => !parties.includes(p)) || ordered.length !== quorum.length || ordered.length < key.threshold) throw new ValidationError(`quorum must be at least ${key.threshold} distinct parties of key ${key.id}`, { code: 'stage.bad_quorum' });
    const missing = required.filter((p) => !ordered.includes(p));
    if (missing.length) throw new ValidationError(`quorum ${ordered.join(',')} leaves out ${missing.join(', ')}, which every quorum of this cold key must include`, { code: 'stage.bad_quorum' });
    const offline = ordered.filter((p) => d.cluster.isOffline(p));
    const size = ecdsa ? ECDSA_SESSION : FROST_CALL;
    const chunks = Array.from({ length: Math.ceil(b.count / size) }, (_, i) => Math.min(size, b.count - i * size));
    const job = d.airgap.job('stage', { keyId, quorum: ordered, count: b.count, sessions: chunks.length }, async () => {
      // Each session is its own flow: the export waits until every one of them waits on the gap.
      await Promise.all(chunks.map((n) => d.airgap.track(offline, 'stage', () => (ecdsa ? d.ecdsa.presign(key, ordered, n).then(() => undefined) : d.signing.refill(key, ordered, n)))));
      return { staged: b.count, quorum: ordered, poolLevel: d.store.poolLevel(key.id, ordered.join(',')) };
    });
    void reply.code(202);
    return { job: job.id, keyId, quorum: ordered, count: b.count, sessions: chunks.length };
  });
}

/** The quorum to stage for: among those with the fewest suspect nodes, the one with the emptiest pool. */
function pickQuorum(d: { store: CoordinatorStore; cluster: Cluster }, key: CoordKeyRow): string[] {
  const qs = candidateQuorums(d, key);
  if (qs.length === 0) throw new ValidationError(`key ${key.id} has no quorum whose online members are reachable`, { code: 'stage.no_quorum' });
  const suspects = (q: string[]) => q.filter((p) => d.cluster.isSuspect(p)).length;
  const best = qs.filter((q) => suspects(q) === suspects(qs[0]));
  return best.reduce((a, q) => (d.store.poolLevel(key.id, q.join(',')) < d.store.poolLevel(key.id, a.join(',')) ? q : a));
}
