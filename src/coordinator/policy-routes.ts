import type { FastifyInstance } from 'fastify';
import { CustosError, NotFoundError, ValidationError } from '../common/errors.ts';
import { parseSignedPolicy, policyDigest } from '../policy/signed-policy.ts';
import { toHex } from '../common/bytes.ts';
import type { AuditLog } from '../wire/audit-log.ts';
import { genesisHash } from '../wire/genesis.ts';
import { recordAudit } from './audit-record.ts';
import type { Genesis } from '../wire/genesis.ts';
import type { Cluster } from './cluster.ts';
import type { RequestService } from './requests.ts';
import type { CoordinatorStore } from './store.ts';
import type { Airgap } from './airgap.ts';

/**
 * Policy endpoints. The coordinator carries policy versions to the nodes and keeps a copy to
 * answer introspection and to refuse bad requests early; only the nodes' verdicts count.
 */
export function registerPolicyRoutes(app: FastifyInstance, d: { cluster: Cluster; genesis: Genesis; requests: RequestService; store: CoordinatorStore; audit?: AuditLog; airgap?: Airgap }): void {
  // Offline nodes are not asked: a question would wait for a crossing. Every version they have
  // not confirmed travels first in each bundle to them (Airgap), and their last confirmed
  // version is what is reported.
  const nodes = d.genesis.nodes.map((n) => n.id).filter((id) => !d.cluster.isOffline(id));
  const offline = d.genesis.nodes.map((n) => n.id).filter((id) => d.cluster.isOffline(id));

  /** Asks every node; unreachable ones answer `{error}` rather than failing the call. */
  const askAll = async <T>(path: string, body?: unknown) => {
    const answers = await Promise.allSettled(nodes.map((n) => (body === undefined ? d.cluster.client(n).get<T>(path) : d.cluster.client(n).post<T>(path, body))));
    return nodes.map((node, i) => {
      const a = answers[i];
      return a.status === 'fulfilled' ? { node, ok: true as const, value: a.value } : { node, ok: false as const, error: a.reason instanceof CustosError ? { code: a.reason.code, detail: a.reason.message, status: a.reason.status } : { code: 'internal', detail: 'internal error', status: 500 } };
    });
  };

  app.get('/v1/policy', async () => {
    const signed = d.requests.policy();
    const perNode = await askAll<{ version: number | null }>('/v1/policy');
    return {
      version: signed?.policy.version ?? null, policy: signed?.policy ?? null, signatures: signed?.signatures ?? [],
      nodes: Object.fromEntries([...perNode.map((a) => [a.node, a.ok ? { version: a.value.version } : { error: a.error }]), ...offline.map((node) => [node, { offline: true, version: d.airgap?.confirmedPolicy(node) || null }])]),
    };
  });

  app.post('/v1/policy', { schema: { body: { type: 'object' } } }, async (req, reply) => {
    const signed = parseSignedPolicy(req.body);
    recordAudit(d.store, d.audit, 'policy.proposed', { version: signed.policy.version, digest: toHex(policyDigest(genesisHash(d.genesis), signed.policy)), admins: signed.signatures.map((s) => s.admin) });
    const results = await askAll<{ version: number; activated: boolean; audit?: unknown }>('/v1/policy', req.body);
    for (const r of results) if (r.ok) d.cluster.keepAnchor(d.store, r.node, r.value.audit);
    const accepted = results.filter((r) => r.ok);
    if (accepted.length === 0) {
      recordAudit(d.store, d.audit, 'policy.refused', { version: signed.policy.version, nodes: results.map((r) => `${r.node}: ${r.ok ? 'ok' : r.error.code}`) });
      const refusal = results.find((r) => !r.ok && r.error.status === 403) ?? results[0];
      const e = (refusal as { error: { code: string; detail: string; status: number } }).error;
      throw new CustosError(e.code, e.detail, { status: e.status === 403 ? 403 : 503, culprit: e.status === 403 ? 'client' : undefined });
    }
    d.requests.requests.storePolicy(signed.policy.version, JSON.stringify(signed));

    recordAudit(d.store, d.audit, 'policy.activated', { version: signed.policy.version, nodes: accepted.map((r) => r.node) });
    void reply.code(200);
    return { version: signed.policy.version, nodes: Object.fromEntries([...results.map((r) => [r.node, r.ok ? { activated: r.value.activated, version: r.value.version } : { error: r.error }]), ...offline.map((node) => [node, { queued: true, confirmedVersion: d.airgap?.confirmedPolicy(node) ?? 0 }])]) };
  });

  app.post('/v1/policy/evaluate', {
    schema: { body: { type: 'object', additionalProperties: false, required: ['request'], properties: { request: { type: 'object' }, signature: { type: 'string' } } } },
  }, async (req) => {
    const body = req.body as { request: { keyId?: unknown }; signature?: string };
    if (typeof body.request.keyId !== 'string') throw new ValidationError('request.keyId must name a key', { code: 'request.invalid' });
    const key = d.store.getKey(body.request.keyId);
    if (!key) throw new NotFoundError('key', body.request.keyId);
    const parties = (JSON.parse(key.parties) as string[]).filter((p) => !d.cluster.isOffline(p));
    const answers = await Promise.allSettled(parties.map((p) => d.cluster.client(p).post<{ policyVersion: number; decision: unknown; request: string }>('/v1/policy/evaluate', body)));
    const ok = answers.flatMap((a, i) => (a.status === 'fulfilled' ? [{ node: parties[i], ...a.value }] : []));
    if (ok.length === 0) {
      const first = answers.find((a) => a.status === 'rejected') as PromiseRejectedResult;
      throw first.reason;
    }
    return { requestDigest: ok[0].request, policyVersion: ok[0].policyVersion, ...(ok[0].decision as object), nodes: ok.map(({ node, policyVersion, decision }) => ({ node, policyVersion, decision })) };
  });
}
