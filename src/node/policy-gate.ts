import type { Json } from '../common/canonical-json.ts';
import { toHex } from '../common/bytes.ts';
import { CustosError, ValidationError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { Policy } from '../policy/document.ts';
import { addressKey, evaluate, type Decision } from '../policy/evaluate.ts';
import { authorize, checkInitiator, describeRequest, type Authorized, type Described, type KeyFacts } from '../policy/authorize.ts';
import { PolicyRefusal } from '../policy/refusal.ts';
import { parseAuthorization, parseSignRequest } from '../policy/sign-request.ts';
import { parseSignedPolicy, policyDigest, verifyPolicyQuorum, type AdminSet, type SignedPolicy } from '../policy/signed-policy.ts';
import { velocityAllowed } from '../policy/velocity-soundness.ts';
import type { NodeAudit } from './audit.ts';
import type { NodeStore } from './store.ts';
import { PolicyStore } from './policy-store.ts';

/**
 * The node's own policy enforcement (issue 4, items 2 and 4). It holds the highest policy version
 * whose admin quorum it verified, never goes back, keeps its own first-sight times and velocity
 * counters, and decides every request itself; the coordinator's view is never consulted. Every
 * refusal is written to the node's audit log with its reason before the caller hears of it.
 */
type Active = { signed: SignedPolicy; effective: Policy; digest: string };

export class NodePolicy {
  readonly #store: NodeStore;
  readonly #policies: PolicyStore;
  readonly #audit: NodeAudit;
  readonly #cluster: string;
  readonly #genesisAdmins: AdminSet | undefined;
  readonly #log: Logger;
  readonly #now: () => Date;
  readonly #expiryNow: () => Date;
  readonly #self: string | undefined;
  readonly #keys: () => KeyFacts[];
  #active: Active | undefined;

  constructor(o: { store: NodeStore; audit: NodeAudit; cluster: string; genesisAdmins?: AdminSet; log: Logger; now?: () => Date; expiryNow?: () => Date; self?: string; keys: () => KeyFacts[] }) {
    this.#store = o.store;
    this.#policies = new PolicyStore(o.store.db);
    this.#audit = o.audit;
    this.#cluster = o.cluster;
    this.#genesisAdmins = o.genesisAdmins;
    this.#log = o.log;
    this.#now = o.now ?? (() => new Date());
    this.#expiryNow = o.expiryNow ?? this.#now;
    this.#self = o.self;
    this.#keys = o.keys;
    const row = this.#policies.active();
    if (row) this.#active = { signed: JSON.parse(row.signed), effective: JSON.parse(row.effective), digest: row.digest };
  }

  /** The active version as admins signed it, with this node's effective cooldown times. */
  current(): { version: number; digest: string; signed: SignedPolicy; effective: Policy } | undefined {
    return this.#active && { version: this.#active.signed.policy.version, ...this.#active };
  }

  /**
   * Writes a refusal to the audit log, then throws it: no refusal goes unrecorded. `alsoRecord`
   * runs in the same transaction (a first sight that must count even though the request was refused).
   */
  refuse(e: unknown, data: { [k: string]: Json }, alsoRecord?: () => void): never {
    const err = e instanceof CustosError ? e : new ValidationError(String((e as Error)?.message ?? e));
    this.#store.tx(() => {
      alsoRecord?.();
      const reasons = Array.isArray(err.detail?.reasons) ? err.detail.reasons : null;
      this.#audit.append(data.kind === 'policy' ? 'policy.refused' : 'request.refused', { ...data, code: err.code, reason: err.message, reasons, culprit: err.culprit ?? null });
    });
    this.#log.warn('policy.refused', { code: err.code, culprit: err.culprit ?? null, ...(typeof data.request === 'string' ? { request: data.request } : {}) });
    throw err;
  }

  /** Verifies and activates a new policy version; the same version again is a no-op. */
  activate(raw: unknown): { version: number; digest: string; admins: string[]; activated: boolean; audit?: unknown } {
    let signed: SignedPolicy;
    try {
      signed = parseSignedPolicy(raw);
    } catch (e) {
      return this.refuse(e, { kind: 'policy', version: null });
    }
    const version = signed.policy.version;
    const digest = toHex(policyDigest(this.#cluster, signed.policy));
    try {
      const cur = this.#active;
      if (cur) {
        if (version === cur.signed.policy.version && digest === cur.digest) return { version, digest, admins: cur.signed.signatures.map((s) => s.admin), activated: false };
        if (version <= cur.signed.policy.version) throw new PolicyRefusal('policy.rollback', `policy version ${version} is not above the active version ${cur.signed.policy.version}; this node never goes back`, { culprit: 'coordinator' });
      }
      // Versions come one by one: a relay that withholds a version cannot make a node skip it
      // (and so skip its admin changes, or restart no cooldown), nor can a huge number lock out
      // every later version.
      const expected = (cur?.signed.policy.version ?? 0) + 1;
      if (version !== expected) throw new PolicyRefusal('policy.version_gap', `policy version ${version} does not follow the active version ${expected - 1}: activate version ${expected} first`, { culprit: 'coordinator' });
      const admins: AdminSet | undefined = cur ? { threshold: cur.signed.policy.adminThreshold, identities: cur.signed.policy.identities } : this.#genesisAdmins;
      if (!admins) throw new PolicyRefusal('policy.no_admins', 'the genesis names no admins, so no policy can be activated on this cluster', { culprit: 'coordinator' });
      const by = verifyPolicyQuorum(this.#cluster, signed, admins);
      this.#checkVelocityRules(signed.policy);
      const effective = withCooldowns(signed.policy, cur?.effective, this.#expiryNow());
      this.#store.tx(() => {
        this.#policies.insertPolicy({ version, signed: JSON.stringify(signed), effective: JSON.stringify(effective), digest, activated_at: this.#expiryNow().toISOString() });
        this.#audit.append('policy.activated', { version, digest, admins: by });
      });
      this.#active = { signed, effective, digest };
      this.#log.info('policy.activated', { version, digest });
      return { version, digest, admins: by, activated: true, audit: this.#audit.headAnchor() };
    } catch (e) {
      return this.refuse(e, { kind: 'policy', version, digest });
    }
  }

  /** Activation refuses velocity rules this node could not enforce on the keys they cover. */
  #checkVelocityRules(p: Policy): void {
    for (const rule of p.rules) {
      if (!rule.match.velocity) continue;
      for (const k of this.#keys().filter((k) => !rule.match.keys || rule.match.keys.includes(k.id))) {
        const v = velocitySound(k);
        if (!v.ok) throw new PolicyRefusal('policy.velocity_unsound', `rule ${rule.id} limits velocity on key ${k.id}: ${v.reason}`, { culprit: 'client', detail: { rule: rule.id, key: k.id } });
      }
    }
  }

  #policy(): Policy {
    if (!this.#active) throw new PolicyRefusal('policy.none', 'no policy is active on this node: every request is denied until admins activate one', { culprit: 'client' });
    return this.#active.effective;
  }

  #velocity(key: KeyFacts, a: { digest: string; policyRequest: { initiator: string; asset: string } }, now: Date) {
    return (per: 'key' | 'initiator', windowSeconds: number) =>
      this.#policies.velocity(per, per === 'key' ? key.id : a.policyRequest.initiator, a.policyRequest.asset, now.getTime() - windowSeconds * 1000, a.digest);
  }

  /** This node's evaluation of a described request: its counters, its share of each limit. */
  #evaluate(policy: Policy, key: KeyFacts, d: Described, now: Date): Decision {
    return evaluate(policy, d.policyRequest, { now, velocity: this.#velocity(key, d, now), velocityShare: shareOf(key, this.#self) });
  }

  /**
   * A request's first sight (submission): checks the initiator, records the time this node's
   * timelock and expiry run from, and answers this node's decision. Nothing is signed here.
   */
  register(key: KeyFacts, raw: unknown): { request: string; firstSeen: string; policyVersion: number; decision: Decision; audit?: unknown } {
    let request: string | null = null;
    try {
      const auth = parseAuthorization(raw);
      const policy = this.#policy();
      request = checkInitiator(policy, auth);
      const d = describeRequest(policy, key, auth.request, request);
      const now = this.#now();
      const seen = this.#store.tx(() => {
        const s = this.#policies.see(d.digest, key.id, auth.request.initiator, this.#expiryNow().getTime());
        if (s.isNew) this.#audit.append('request.received', { request: d.digest, key: key.id, initiator: auth.request.initiator, txType: d.policyRequest.txType, asset: d.policyRequest.asset, amount: d.policyRequest.amount, to: d.policyRequest.to ?? null });
        return s;
      });
      const decision = this.#evaluate(policy, key, d, now);
      // The anchor lets the coordinator keep this node's newest (sequence, head): the entry just
      // written cannot be cut from the log later without `custos audit verify` noticing.
      return { request: d.digest, firstSeen: new Date(seen.firstSeen).toISOString(), policyVersion: policy.version, decision, audit: this.#audit.headAnchor() };
    } catch (e) {
      return this.refuse(e, { kind: 'request', key: key.id, request });
    }
  }

  /** The dry run: the same description and evaluation as a real decision, nothing recorded. */
  dryRun(key: KeyFacts, raw: unknown): { policyVersion: number; decision: Decision; request: string } {
    const o = raw as { request?: unknown; signature?: unknown } | null;
    const request = parseSignRequest(o?.request, 'request');
    const policy = this.#policy();
    const digest = o?.signature !== undefined ? checkInitiator(policy, { request, signature: String(o.signature) }) : undefined;
    const d = describeRequest(policy, key, request, digest);
    const now = this.#now();
    return { policyVersion: policy.version, decision: this.#evaluate(policy, key, d, now), request: d.digest };
  }

  /**
   * The gate before any share computation. Returns the authorised request and `commit`, which the
   * caller runs inside the transaction that releases the share (so the velocity event and the
   * release are one durable fact). Every refusal is audited.
   */
  authorize(key: KeyFacts, raw: unknown): { authorized: Authorized; policyVersion: number; commit: () => void } {
    let request: string | null = null;
    // A request first seen here is recorded as seen now, in the release transaction (commit) or in
    // the refusal's (so a timelock starts even when this first attempt is refused): no extra write.
    let see = () => {};
    try {
      const auth = parseAuthorization(raw);
      const policy = this.#policy();
      const now = this.#now();
      // Starts (a first sight, from which a timelock runs) are taken at the latest time this node
      // may assume, decisions at the earliest: with attested time (an offline node) a skewed
      // attester can then only delay a timelock, never open it early. One clock online: the same.
      const latest = this.#expiryNow();
      request = checkInitiator(policy, auth);
      const known = this.#policies.firstSeen(request);
      if (known === undefined) {
        const digest = request;
        see = () => { this.#policies.see(digest, key.id, auth.request.initiator, latest.getTime()); };
      }
      const authorized = authorize({
        policy, key, auth, digest: request, now, expiryNow: latest, firstSeen: new Date(known ?? latest.getTime()),
        velocity: (d) => this.#velocity(key, d, now),
        velocitySound: velocitySound(key),
        velocityShare: shareOf(key, this.#self),
      });
      const pr = authorized.policyRequest;
      return {
        authorized, policyVersion: policy.version,
        commit: () => {
          see();
          this.#policies.recordVelocity({ request: authorized.digest, keyId: key.id, initiator: pr.initiator, asset: pr.asset, amount: pr.amount, at: now.getTime() });
        },
      };
    } catch (e) {
      return this.refuse(e, { kind: 'request', key: key.id, request }, see);
    }
  }
}

/** Whether this node can enforce velocity limits on `key` (a cold key's offline party sees every request). */
function velocitySound(key: KeyFacts): { ok: boolean; reason: string } {
  return velocityAllowed(key.threshold, key.parties.length, (key.required?.length ?? 0) > 0);
}

/** What the policy needs to know of a key (from the node's key row). */
export function keyFacts(k: { id: string; scheme: string; threshold: number; parties: string; public?: string }): KeyFacts {
  const required = k.public ? (JSON.parse(k.public) as { requiredParties?: string[] }).requiredParties : undefined;
  return { id: k.id, scheme: k.scheme, threshold: k.threshold, parties: JSON.parse(k.parties) as string[], ...(required?.length ? { required } : {}) };
}

/**
 * This node keeps its own counters. A party every quorum must include (a cold key's offline
 * node) sees every request of the key and enforces each velocity limit in full; any other node
 * enforces its share, so that requests spread over quorums by a hostile coordinator cannot add up
 * beyond the limit (evaluate.ts).
 */
function shareOf(key: KeyFacts, self: string | undefined): { threshold: number; parties: number } {
  if (self !== undefined && key.required?.includes(self)) return { threshold: 1, parties: 1 };
  return { threshold: key.threshold, parties: key.parties.length };
}

/**
 * Cooldowns run on this node's clock: an address new in this version counts as added no earlier
 * than its activation here, so admins cannot back-date an entry past its cooldown; an address
 * already listed keeps the time it had.
 */
function withCooldowns(next: Policy, prev: Policy | undefined, now: Date): Policy {
  const out = structuredClone(next);
  for (const list of out.addressLists) {
    const before = prev?.addressLists.find((l) => l.id === list.id);
    for (const e of list.entries) {
      const old = before?.entries.find((x) => addressKey(x.address) === addressKey(e.address));
      const added = old ? old.addedAt : new Date(Math.max(Date.parse(e.addedAt), now.getTime())).toISOString();
      e.addedAt = added;
    }
  }
  return out;
}
