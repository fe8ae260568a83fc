import { randomUUID } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { canonicalBytes } from '../common/canonical-json.ts';
import { toHex } from '../common/bytes.ts';
import { ConflictError, CustosError, NotFoundError, UnavailableError, ValidationError, asCustosError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { problemOf } from '../common/problem.ts';
import { isEcdsa, type Scheme } from '../common/schemes.ts';
import { attachSignature } from '../chains/ethereum/transaction.ts';
import { decodePayload } from '../chains/payload.ts';
import { checkInitiator, describeRequest, type KeyFacts } from '../policy/authorize.ts';
import { groupsSatisfied, type ApprovalRequirement } from '../policy/approvals.ts';
import { evaluate, type Decision } from '../policy/evaluate.ts';
import { verifyBy } from '../policy/identity.ts';
import { PolicyRefusal } from '../policy/refusal.ts';
import { approvalDigestOf, parseApproval, parseAuthorization, type Approval, type Authorization } from '../policy/sign-request.ts';
import type { SignedPolicy } from '../policy/signed-policy.ts';
import type { Cluster } from './cluster.ts';
import type { EcdsaSigning } from './ecdsa-signing.ts';
import type { Airgap } from './airgap.ts';
import type { SigningService } from './signing.ts';
import type { CoordinatorStore, CoordKeyRow } from './store.ts';
import type { AuditLog } from '../wire/audit-log.ts';
import { recordAudit } from './audit-record.ts';
import { FINAL_STATES, RequestStore, type RequestPolicyRow, type RequestState } from './request-store.ts';

/**
 * The request lifecycle (issue 4, item 5): SUBMITTED → PENDING_APPROVAL → APPROVED → SIGNING →
 * SIGNED, or REJECTED / FAILED / EXPIRED / CANCELLED with a reason. The coordinator only carries
 * requests and approvals and keeps the state a client sees; every node of the key decides for
 * itself, at registration (where its timelock starts) and again before it signs.
 */
export type RequestServiceDeps = {
  store: CoordinatorStore;
  cluster: Cluster;
  signing: SigningService;
  ecdsa: EcdsaSigning;
  log: Logger;
  /** The coordinator's own audit log (none without an HSM token). */
  audit?: AuditLog;
  /** Offline nodes: a cold key's signatures wait on an air-gap crossing. */
  airgap?: Airgap;
  /** Posts a webhook event (request.pending_approval, request.signed, …). */
  emit: (event: string, data: Record<string, unknown>) => void;
  now?: () => number;
};

export type SubmitResult = { status: 200 | 202; body: Record<string, unknown> };
type NodeDecision = { node: string; request: string; firstSeen: string; policyVersion: number; decision: Decision };

const IDEMPOTENCY_RE = /^[\x21-\x7e]{1,255}$/;

export class RequestService {
  readonly requests: RequestStore;
  readonly #d: RequestServiceDeps;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  readonly #running = new Set<string>();
  /** Metrics hooks, set by the API. */
  onSigned?: (scheme: string, seconds: number) => void;
  onFailed?: (code: string) => void;

  constructor(d: RequestServiceDeps) {
    this.#d = d;
    this.requests = new RequestStore(d.store.db);
    this.#now = d.now ?? Date.now;
  }

  /** The newest admin-signed policy the coordinator carries (it only reads it). */
  policy(): SignedPolicy | undefined {
    const s = this.requests.latestPolicy();
    return s ? JSON.parse(s) : undefined;
  }

  #policyOrRefuse() {
    const p = this.policy();
    if (!p) throw new PolicyRefusal('policy.none', 'no policy has been activated: every request is denied until admins activate one');
    return p.policy;
  }

  #facts(key: CoordKeyRow): KeyFacts {
    return { id: key.id, scheme: key.scheme, threshold: key.threshold, parties: JSON.parse(key.parties) };
  }

  /** The front door: the same checks the nodes run, so a bad request is refused before it costs anything. */
  #frontDoor(key: CoordKeyRow, auth: Authorization) {
    if (auth.request.keyId !== key.id) throw new ValidationError(`the request is for key ${auth.request.keyId}, not ${key.id}`, { code: 'request.wrong_key' });
    const policy = this.#policyOrRefuse();
    const digest = checkInitiator(policy, auth);
    return { policy, described: describeRequest(policy, this.#facts(key), auth.request, digest) };
  }

  async submit(key: CoordKeyRow, body: { request: unknown; signature: unknown }, idem: string | undefined): Promise<SubmitResult> {
    if (idem !== undefined && !IDEMPOTENCY_RE.test(idem)) throw new ValidationError('Idempotency-Key must be 1..255 printable ASCII characters', { code: 'request.bad_idempotency_key' });
    const auth = parseAuthorization({ request: body.request, signature: body.signature }, 'body');
    const { policy, described } = this.#frontDoor(key, auth);
    const bodyHash = toHex(sha256(canonicalBytes({ keyId: key.id, request: auth.request, signature: auth.signature })));
    if (idem) {
      const prior = this.#d.store.requestByIdempotencyKey(idem);
      if (prior) return this.#replay(prior.id, prior.body_hash, bodyHash);
    }
    // The coordinator's own reading of the policy (without the nodes' velocity counters) only picks
    // the path: a request it expects to be allowed goes straight to signing, where every node
    // decides again; if a node wants approvals after all, the request is registered and waits.
    // Recorded with the request itself, in one commit.
    const preview = evaluate(policy, described.policyRequest, { now: new Date(this.#now()), velocity: () => ({ total: 0n, count: 0 }) });
    const direct = preview.decision === 'allow';
    const id = randomUUID();
    try {
      this.#d.store.tx(() => {
        this.#d.store.insertRequest({ id, key_id: key.id, idempotency_key: idem ?? null, body_hash: bodyHash, payload: JSON.stringify(auth.request.payload), status: direct ? 'SIGNING' : 'SUBMITTED' });
        this.requests.insert({ id, digest: described.digest, initiator: auth.request.initiator, request: JSON.stringify(auth.request), signature: auth.signature });
        if (direct) this.requests.setDecision(id, { requirement: null, decisions: [{ node: 'coordinator', decision: preview }], notBefore: null, expiresAt: null });
        this.#d.audit?.append('request.submitted', {
          request: id, digest: described.digest, key: key.id, initiator: auth.request.initiator, payloadType: auth.request.payload.type,
          txType: described.policyRequest.txType, amount: described.policyRequest.amount, to: described.policyRequest.to ?? null,
          path: direct ? `signing: the coordinator's preview allows it (rule ${preview.rule}); each node decides again` : 'registering with the nodes for their decisions',
        });
      });
    } catch {
      const prior = idem ? this.#d.store.requestByIdempotencyKey(idem) : undefined;
      if (prior) return this.#replay(prior.id, prior.body_hash, bodyHash);
      throw new ConflictError('request.conflict', 'could not record the request');
    }
    if (direct && this.#offlineSigners(key).length) return this.#signAcrossGap(id, key, auth);
    if (direct) {
      try {
        return { status: 200, body: await this.#sign(id, key, auth, true) };
      } catch (e) {
        if (!(e instanceof NeedsApproval)) throw e;
      }
    }
    return this.#decideByNodes(id, key, auth);
  }

  /** Registers the request with the nodes and follows their decisions: reject, wait for approvals, or sign. */
  async #decideByNodes(id: string, key: CoordKeyRow, auth: Authorization): Promise<SubmitResult> {
    let decisions: NodeDecision[];
    try {
      decisions = await this.#register(key, auth);
    } catch (e) {
      this.#end(id, e);
      throw e;
    }
    const denied = decisions.find((d) => d.decision.decision === 'deny');
    if (denied) {
      const err = new PolicyRefusal('policy.denied', `node ${denied.node} denies the request under policy version ${denied.policyVersion}${denied.decision.rule ? ` (rule ${denied.decision.rule})` : ' (no rule matched)'}`, { reasons: denied.decision.reasons, detail: { rule: denied.decision.rule, node: denied.node } });
      this.#end(id, err);
      throw err;
    }
    const approve = decisions.filter((d) => d.decision.decision === 'approve');
    if (approve.length) {
      const need = approve[0].decision.approvals!;
      const seen = decisions.map((d) => Date.parse(d.firstSeen));
      const notBefore = Math.max(...seen) + need.timelockSeconds * 1000;
      const expiresAt = Math.min(...seen) + need.expirySeconds * 1000;
      this.requests.setDecision(id, { requirement: need, decisions: decisions.map(({ node, decision }) => ({ node, decision })), notBefore, expiresAt });
      this.requests.transition(id, ['SUBMITTED'], 'PENDING_APPROVAL', `rule ${approve[0].decision.rule}: needs approval`);
      this.#record('request.decided', { request: id, decision: 'approve', rule: approve[0].decision.rule, notBefore: new Date(notBefore).toISOString(), expiresAt: new Date(expiresAt).toISOString() });
      this.#d.emit('request.pending_approval', this.view(id));
      return { status: 202, body: this.view(id) };
    }
    this.requests.setDecision(id, { requirement: null, decisions: decisions.map(({ node, decision }) => ({ node, decision })), notBefore: null, expiresAt: null });
    this.requests.transition(id, ['SUBMITTED'], 'SIGNING');
    this.#record('request.decided', { request: id, decision: 'allow', rule: decisions[0].decision.rule });
    if (this.#offlineSigners(key).length) return this.#signAcrossGap(id, key, auth);
    const out = await this.#sign(id, key, auth);
    return { status: 200, body: out };
  }


  /** The offline nodes a signature of `key` waits on (a cold key's). */
  #offlineSigners(key: CoordKeyRow): string[] {
    return this.#d.airgap?.offlineSignersOf(key) ?? [];
  }

  /**
   * A cold key's signature waits for the offline node's answer bundle: the request stays SIGNING
   * (202) and completes, or fails with the nodes' reasons, when the answer is imported (webhooks
   * and GET /v1/requests/{id} tell the client). It goes into the next bundle with every other.
   */
  #signAcrossGap(id: string, key: CoordKeyRow, auth: Authorization): SubmitResult {
    this.#running.add(id);
    void this.#d.airgap!.track(this.#offlineSigners(key), 'sign', () => this.#sign(id, key, auth))
      .catch(() => { /* recorded by #sign */ }).finally(() => this.#running.delete(id));
    return { status: 202, body: this.view(id) };
  }

  /**
   * Registers the request with every reachable online party of the key; each answers its own
   * decision. Offline nodes decide when they sign (a registration would cost a crossing).
   */
  async #register(key: CoordKeyRow, auth: Authorization): Promise<NodeDecision[]> {
    const parties = this.#facts(key).parties.filter((p) => !this.#d.cluster.isOffline(p));
    const answers = await Promise.allSettled(parties.map((p) => this.#d.cluster.client(p).post<Omit<NodeDecision, 'node'>>('/v1/requests/register', { authorization: auth })));
    const out: NodeDecision[] = [];
    for (const [i, a] of answers.entries()) {
      if (a.status === 'fulfilled') {
        this.#d.cluster.keepAnchor(this.#d.store, parties[i], (a.value as { audit?: unknown }).audit);
        out.push({ node: parties[i], ...a.value });
      }
      else if (a.reason instanceof CustosError && a.reason.code === 'node.unreachable') this.#d.cluster.markDown(parties[i]);
      else throw a.reason;
    }
    const need = Math.max(1, key.threshold - this.#offlineSigners(key).length);
    if (out.length < need) throw new UnavailableError('quorum.unavailable', `fewer than ${need} online nodes of key ${key.id} are reachable to register the request`);
    return out;
  }

  #record(kind: string, data: Record<string, string | number | boolean | null | string[]>): void {
    recordAudit(this.#d.store, this.#d.audit, kind, data);
  }

  /** Ends a request that produced no signature; its Idempotency-Key is freed for a retry. */
  #end(id: string, e: unknown): void {
    const err = asCustosError(e);
    const status: RequestState = err.status === 403 ? 'REJECTED' : 'FAILED';
    this.#record(status === 'REJECTED' ? 'request.rejected' : 'request.failed', { request: id, code: err.code, reason: err.message, culprit: err.culprit ?? null });
    this.#d.store.finishRequest(id, status as 'FAILED' | 'REJECTED', { error: JSON.stringify(problemOf(err)), releaseIdempotencyKey: status === 'FAILED' });
    this.requests.setStatus(id, status, err.message);
    this.onFailed?.(err.code);
    this.#d.log.warn(status === 'REJECTED' ? 'request.rejected' : 'request.failed', { request: id, code: err.code, culprit: err.culprit ?? null });
    this.#d.emit(status === 'REJECTED' ? 'request.rejected' : 'request.failed', this.view(id));
  }

  /** With `mayNeedApproval`, a node asking for approvals sends the request back to SUBMITTED (NeedsApproval). */
  async #sign(id: string, key: CoordKeyRow, auth: Authorization, mayNeedApproval = false): Promise<Record<string, unknown>> {
    // The bytes to sign, as every node will decode them from the same signed payload.
    const decoded = decodePayload(auth.request.payload);
    const t0 = performance.now();
    try {
      let signature: string; let signers: string[]; let result: Record<string, unknown> = {};
      if (isEcdsa(key.scheme as Scheme)) {
        const out = await this.#d.ecdsa.sign(key, { digest: decoded.signBytes, derivationPath: auth.request.derivationPath, requestId: id, authorization: auth });
        signature = out.signature; signers = out.signers;
        result = { recoveryId: out.recoveryId, publicKey: out.publicKey, presigned: out.presigned };
        if (auth.request.payload.type === 'eth-tx') {
          result.signedTransaction = attachSignature(auth.request.payload.hex, { r: signature.slice(0, 64), s: signature.slice(64), recoveryId: out.recoveryId });
        }
      } else {
        const out = await this.#d.signing.sign(key, decoded.signBytes, id, auth);
        signature = out.signature; signers = out.signers;
      }
      this.#d.store.tx(() => {
        this.#d.store.finishRequest(id, 'SIGNED', { signature, signers, result });
        this.#d.audit?.append('request.signed', { request: id, signers });
      });
      this.onSigned?.(key.scheme, (performance.now() - t0) / 1000);
      const body = { requestId: id, status: 'SIGNED', signature, ...result, signers };
      this.#d.emit('request.signed', this.view(id));
      return body;
    } catch (e) {
      const err = asCustosError(e);
      if (mayNeedApproval && err.code === 'approval.insufficient') {
        this.requests.transition(id, ['SIGNING'], 'SUBMITTED');
        throw new NeedsApproval();
      }
      if (err.code === 'approval.insufficient' && typeof err.detail?.requirement === 'string' && this.#offlineSigners(key).length > 0
        && this.#toApproval(id, err)) {
        throw err;
      }
      if (err.code === 'approval.timelock') {
        // A node's clock is behind ours, or (an offline node) its timelock started at the bundle
        // that first carried the request: wait until the time it names rather than fail, so a
        // cold key does not spend a staged presignature on every crossing until then.
        const named = Date.parse(String(err.detail?.notBefore ?? ''));
        this.requests.transition(id, ['SIGNING'], 'APPROVED');
        this.requests.setNotBefore(id, Math.max(this.#now() + 2000, Number.isNaN(named) ? 0 : named));
        throw err;
      }
      this.#end(id, err);
      throw err;
    }
  }

  /**
   * A cold key's request that a node sends to approval although the coordinator's preview (which
   * lacks the nodes' velocity counters) allowed it: it cannot be registered with the offline node
   * without a crossing, so it waits for the approvals the refusing node named, and is signed
   * (across the gap again) once they are in. Each node checks them itself at signing.
   */
  #toApproval(id: string, err: CustosError): boolean {
    let need: ApprovalRequirement;
    try {
      need = JSON.parse(String(err.detail!.requirement)) as ApprovalRequirement;
    } catch {
      return false;
    }
    if (!Array.isArray(need?.groups) || !Number.isInteger(need.timelockSeconds) || !Number.isInteger(need.expirySeconds)) return false;
    const now = this.#now();
    const node = String(err.detail?.node ?? 'node');
    const rule = typeof err.detail?.rule === 'string' ? err.detail.rule : null;
    this.requests.setDecision(id, { requirement: need, decisions: [{ node, decision: { decision: 'approve', rule, approvals: need } }], notBefore: now + need.timelockSeconds * 1000, expiresAt: now + need.expirySeconds * 1000 });
    if (!this.requests.transition(id, ['SIGNING'], 'PENDING_APPROVAL', `rule ${rule ?? '?'} on ${node}: needs approval`)) return false;
    this.#record('request.decided', { request: id, decision: 'approve', rule, node, notBefore: new Date(now + need.timelockSeconds * 1000).toISOString(), expiresAt: new Date(now + need.expirySeconds * 1000).toISOString() });
    this.#d.emit('request.pending_approval', this.view(id));
    return true;
  }

  #replay(id: string, priorHash: string, bodyHash: string): SubmitResult {
    if (priorHash !== bodyHash) throw new ValidationError('this Idempotency-Key was already used with a different request body', { code: 'request.idempotency_mismatch', status: 422 });
    const v = this.view(id);
    if (v.status === 'SIGNED') {
      const r = this.#d.store.getRequest(id)!;
      return { status: 200, body: { requestId: id, status: 'SIGNED', signature: r.signature, ...(r.result ? JSON.parse(r.result) : {}), signers: JSON.parse(r.signers ?? '[]') } };
    }
    if (v.status === 'FAILED' || v.status === 'REJECTED') {
      const p = v.error as { code: string; detail: string; status: number; context?: Record<string, unknown> };
      throw new CustosError(p.code, p.detail, { status: p.status, detail: p.context as never });
    }
    if (v.status === 'PENDING_APPROVAL' || v.status === 'APPROVED' || v.status === 'EXPIRED' || v.status === 'CANCELLED') return { status: 202, body: v };
    throw new ConflictError('request.in_progress', `request ${id} with this Idempotency-Key is still being signed`, { requestId: id });
  }

  /** Records an approval (or a rejection) by an approver, signed over the request digest. */
  async approve(id: string, raw: unknown): Promise<Record<string, unknown>> {
    const row = this.requests.get(id);
    const req = this.#d.store.getRequest(id);
    if (!row || !req) throw new NotFoundError('request', id);
    if (req.status !== 'PENDING_APPROVAL' && req.status !== 'APPROVED') throw new ConflictError('request.not_pending', `request ${id} is ${req.status}, not waiting for approvals`);
    const a = parseApproval(raw, 'body');
    if (a.requestDigest !== row.digest) throw new ValidationError(`the approval names request digest ${a.requestDigest}, not this request's (${row.digest})`, { code: 'approval.wrong_request' });
    const policy = this.#policyOrRefuse();
    const who = policy.identities.find((x) => x.id === a.approver);
    if (!who?.roles.includes('approver')) throw new PolicyRefusal('approval.not_approver', `${a.approver} is not an identity with the approver role`);
    if (!verifyBy(who, approvalDigestOf(a), a.signature)) throw new PolicyRefusal('approval.bad_signature', `the approval is not signed by ${a.approver}'s key`);
    if (Date.parse(a.expiresAt) <= this.#now()) throw new PolicyRefusal('approval.expired', `the approval expired at ${a.expiresAt}`);
    if (a.decision === 'reject') {
      this.#record('request.approval', { request: id, approver: a.approver, decision: a.decision });
      const err = new PolicyRefusal('approval.rejected', `${a.approver} rejected the request`);
      this.requests.setApprovals(id, [...(JSON.parse(row.approvals) as Approval[]).filter((x) => x.approver !== a.approver), a]);
      this.#end(id, err);
      return this.view(id);
    }
    const approvals = [...(JSON.parse(row.approvals) as Approval[]).filter((x) => x.approver !== a.approver), a];
    this.requests.setApprovals(id, approvals);
    this.#record('request.approval', { request: id, approver: a.approver, decision: a.decision });
    const need = JSON.parse(row.requirement ?? 'null') as ApprovalRequirement | null;
    if (need && groupsSatisfied(policy, need.groups, approvals.map((x) => x.approver)) && this.requests.transition(id, ['PENDING_APPROVAL'], 'APPROVED')) {
      this.#d.emit('request.approved', this.view(id));
    }
    await this.tick();
    return this.view(id);
  }

  cancel(id: string, reason: string | undefined): Record<string, unknown> {
    const req = this.#d.store.getRequest(id);
    if (!req) throw new NotFoundError('request', id);
    if (!this.requests.transition(id, ['SUBMITTED', 'PENDING_APPROVAL', 'APPROVED'], 'CANCELLED', reason ?? 'cancelled by the client')) {
      throw new ConflictError('request.not_cancellable', `request ${id} is ${req.status}; only requests not yet signing can be cancelled`);
    }
    this.#record('request.cancelled', { request: id, reason: reason ?? null });
    this.#d.emit('request.cancelled', this.view(id));
    return this.view(id);
  }

  /** Expires what ran out of time and signs what is approved and past its timelock. */
  async tick(): Promise<void> {
    const now = this.#now();
    for (const r of this.requests.waiting()) {
      if (r.expires_at !== null && now >= r.expires_at) {
        if (this.requests.transition(r.id, ['PENDING_APPROVAL', 'APPROVED'], 'EXPIRED', `not approved and signed before ${new Date(r.expires_at).toISOString()}`)) {
          this.#record('request.expired', { request: r.id });
          this.#d.emit('request.expired', this.view(r.id));
        }
        continue;
      }
      if (r.status !== 'APPROVED' || (r.not_before !== null && now < r.not_before) || this.#running.has(r.id)) continue;
      const key = this.#d.store.getKey(r.key_id);
      if (!key || !this.requests.transition(r.id, ['APPROVED'], 'SIGNING')) continue;
      this.#running.add(r.id);
      const auth: Authorization = { request: JSON.parse(r.request), signature: r.signature, approvals: JSON.parse(r.approvals) };
      const run = () => this.#sign(r.id, key, auth);
      const offline = this.#offlineSigners(key);
      void (offline.length ? this.#d.airgap!.track(offline, 'sign', run) : run()).catch(() => { /* recorded by #sign */ }).finally(() => this.#running.delete(r.id));
    }
  }

  start(intervalMs = 1000): void {
    this.#timer = setInterval(() => { void this.tick().catch((e) => this.#d.log.error('requests.tick_failed', { error: asCustosError(e).code })); }, intervalMs);
    this.#timer.unref();
  }
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  view(id: string): Record<string, unknown> & { status: RequestState } {
    const r = this.#d.store.getRequest(id);
    if (!r) throw new NotFoundError('request', id);
    const p = this.requests.get(id);
    return viewOf(r, p);
  }
}

/** A node wants approvals for a request the coordinator expected to be allowed. */
class NeedsApproval extends Error {}

export function viewOf(r: { id: string; key_id: string; status: string; signature: string | null; signers: string | null; error: string | null; result?: string | null; created_at: string; updated_at: string }, p: RequestPolicyRow | undefined): Record<string, unknown> & { status: RequestState } {
  const approvals = p ? (JSON.parse(p.approvals) as Approval[]).map(({ approver, decision, expiresAt }) => ({ approver, decision, expiresAt })) : [];
  return {
    requestId: r.id, keyId: r.key_id, status: r.status as RequestState,
    // The signed request itself: an approver recomputes the digest from it rather than sign one blind.
    ...(p ? { requestDigest: p.digest, initiator: p.initiator, request: JSON.parse(p.request), initiatorSignature: p.signature, approvals } : {}),
    ...(p?.requirement ? { requirement: JSON.parse(p.requirement) } : {}),
    ...(p?.not_before ? { notBefore: new Date(p.not_before).toISOString() } : {}),
    ...(p?.expires_at && !FINAL_STATES.includes(r.status as RequestState) ? { expiresAt: new Date(p.expires_at).toISOString() } : {}),
    ...(p?.reason ? { reason: p.reason } : {}),
    ...(r.signature ? { signature: r.signature } : {}),
    ...(r.result ? JSON.parse(r.result) : {}),
    ...(r.signers ? { signers: JSON.parse(r.signers) } : {}),
    ...(r.error ? { error: JSON.parse(r.error) } : {}),
    createdAt: r.created_at, updatedAt: r.updated_at,
  };
}
