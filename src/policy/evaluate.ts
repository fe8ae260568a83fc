/**
 * Pure policy evaluation (issue 4, items 2 and 4): ordered rules, first match wins, default deny.
 * No I/O and no clock: the node passes `now` and its own durable velocity counters, so the same
 * function serves the real decision and the dry run (`POST /v1/policy/evaluate`).
 */
import type { Match, Policy, Rule, TxType, VelocityClause } from './document.ts';
import type { ApprovalRequirement } from './approvals.ts';
import { BASE_UNITS } from '../chains/payload.ts';

export interface PolicyRequest {
  keyId: string;
  /** BIP32 account index of the derivation, when the request names one. */
  account?: number;
  chain: string;
  /** Asset id as declared in the policy. */
  asset: string;
  txType: TxType;
  to?: string;
  /** Base units, non-negative decimal string. */
  amount: string;
  initiator: string;
  /** Transactions: the most the transaction may pay in fees, in the chain's native base units. */
  maxFee?: string;
}

/** Counters already recorded for the window ending at `now`, excluding the current request. */
export type VelocityLookup = (per: 'key' | 'initiator', windowSeconds: number) => { total: bigint; count: number };

/**
 * `velocityShare`: the key's threshold t and number of parties n, when counters are kept by each
 * node separately. Each signature is counted by the t (or more) nodes that signed it, so a
 * coordinator that spreads requests across quorums makes each node see only part of them; each
 * node therefore enforces its share of a limit: t/n of a total, and the largest count c with
 * floor(n·c/t) <= the limit. Then no routing of requests can exceed the policy's limit. Without
 * it (a party in every quorum, or the coordinator's preview), limits apply as written.
 */
export interface EvaluationContext { now: Date; velocity: VelocityLookup; velocityShare?: { threshold: number; parties: number } }

export interface Decision {
  decision: 'allow' | 'deny' | 'approve';
  rule: string | null;
  reasons: string[];
  approvals?: ApprovalRequirement;
}

const OPT_IN = new Set<TxType>(['raw-digest', 'raw-message', 'contract-call', 'typed-data']);

/** Evaluates `request` against `policy`; never throws on a well-formed request. */
export function evaluate(policy: Policy, request: PolicyRequest, context: EvaluationContext): Decision {
  if (!BASE_UNITS.test(request.amount)) {
    return { decision: 'deny', rule: null, reasons: ['amount is not a non-negative base-unit decimal string'] };
  }
  const amount = BigInt(request.amount);
  // Fees leave the account like a transfer: every transaction needs its chain's fee cap.
  if (request.maxFee !== undefined) {
    const native = policy.assets.find((a) => a.chain === request.chain && a.contract === null);
    if (native?.maxFee === undefined) return { decision: 'deny', rule: null, reasons: [`the transaction may pay up to ${request.maxFee} in fees on ${request.chain}, and the policy caps no fees there (declare its native asset with maxFee)`] };
    if (!BASE_UNITS.test(request.maxFee) || BigInt(request.maxFee) > BigInt(native.maxFee)) return { decision: 'deny', rule: null, reasons: [`the transaction may pay up to ${request.maxFee} in fees, above the cap ${native.maxFee} of asset ${native.id}`] };
  }
  const reasons: string[] = [];
  for (const rule of policy.rules) {
    const miss = mismatch(policy, rule.match, request, amount, context);
    if (miss !== null) {
      reasons.push(`rule ${rule.id}: ${miss}`);
      continue;
    }
    return decide(rule, reasons);
  }
  reasons.push('no rule matched');
  return { decision: 'deny', rule: null, reasons };
}

function decide(rule: Rule, reasons: string[]): Decision {
  const a = rule.action;
  if (a.type === 'allow') return { decision: 'allow', rule: rule.id, reasons: [...reasons, `rule ${rule.id}: matched, allow`] };
  if (a.type === 'block') return { decision: 'deny', rule: rule.id, reasons: [...reasons, `rule ${rule.id}: matched, block`] };
  const need = a.groups.map((g) => `${g.threshold} of ${g.group}`).join(' and ');
  return {
    decision: 'approve',
    rule: rule.id,
    reasons: [...reasons, `rule ${rule.id}: matched, needs approval from ${need} after ${a.timelockSeconds}s, expires after ${a.expirySeconds}s`],
    approvals: { groups: a.groups.map((g) => ({ ...g })), timelockSeconds: a.timelockSeconds, expirySeconds: a.expirySeconds },
  };
}

/** Returns null when every present clause matches, else a short reason for the first that does not. */
function mismatch(policy: Policy, m: Match, r: PolicyRequest, amount: bigint, ctx: EvaluationContext): string | null {
  if (m.keys && !m.keys.includes(r.keyId)) return `key ${r.keyId} not in ${m.keys.join(', ')}`;
  if (m.accounts) {
    if (r.account === undefined) return 'request names no account';
    if (!m.accounts.includes(r.account)) return `account ${r.account} not in ${m.accounts.join(', ')}`;
  }
  if (m.chains && !m.chains.includes(r.chain)) return `chain ${r.chain} not in ${m.chains.join(', ')}`;
  if (m.assets && !m.assets.includes(r.asset)) return `asset ${r.asset || '(none: not a transfer of a declared asset)'} not in ${m.assets.join(', ')}`;
  if (m.txTypes && !m.txTypes.includes(r.txType)) return `type ${r.txType} not in ${m.txTypes.join(', ')}`;
  // Blind signing, contract calls and typed data are opt-in: they only match a rule that names
  // their type, never a catch-all rule written with transfers in mind (a zero-value call or an
  // EIP-712 permit can move anything).
  if (!m.txTypes && OPT_IN.has(r.txType)) return `${r.txType} needs a rule that lists it in txTypes`;
  if (m.initiators && !m.initiators.includes(r.initiator)) return `initiator ${r.initiator} not in ${m.initiators.join(', ')}`;
  if (m.amountMin !== undefined && amount < BigInt(m.amountMin)) return `amount ${r.amount} below ${m.amountMin}`;
  if (m.amountMax !== undefined && amount > BigInt(m.amountMax)) return `amount ${r.amount} above ${m.amountMax}`;
  if (m.destination) {
    const miss = destinationMismatch(policy, m.destination.list, r.to, ctx.now);
    if (miss !== null) return miss;
  }
  if (m.timeWindows) {
    const minute = ctx.now.getUTCHours() * 60 + ctx.now.getUTCMinutes();
    if (!m.timeWindows.some((w) => inWindow(minute, w.fromMinute, w.toMinute))) return `UTC minute ${minute} outside the time windows`;
  }
  // Velocity last: it consults the node's counters, and a cheaper clause may already rule out the match.
  if (m.velocity) {
    for (const v of m.velocity) {
      const miss = velocityMismatch(v, amount, ctx);
      if (miss !== null) return miss;
    }
  }
  return null;
}

function inWindow(minute: number, from: number, to: number): boolean {
  return from < to ? minute >= from && minute < to : minute >= from || minute < to;
}

/**
 * Address comparison: hex (EVM) and bech32 addresses are case-insensitive by their specs (EIP-55
 * casing is a checksum, not identity), so they compare lowercased; anything else (base58:
 * legacy Bitcoin, Solana) is case-sensitive and compares exactly.
 */
export function addressKey(a: string): string {
  return /^0x[0-9a-f]+$/i.test(a) || /^(bc|tb|bcrt)1[0-9a-z]+$/i.test(a) ? a.toLowerCase() : a;
}

function destinationMismatch(policy: Policy, listId: string, to: string | undefined, now: Date): string | null {
  if (to === undefined) return 'request has no destination';
  const list = policy.addressLists.find((l) => l.id === listId);
  if (!list) return `address list ${listId} is not defined`;
  const want = addressKey(to);
  let coolingUntil: number | null = null;
  for (const e of list.entries) {
    if (addressKey(e.address) !== want) continue;
    const activeAt = Date.parse(e.addedAt) + list.cooldownSeconds * 1000;
    if (activeAt <= now.getTime()) return null;
    coolingUntil = coolingUntil === null ? activeAt : Math.min(coolingUntil, activeAt);
  }
  if (coolingUntil !== null) return `destination ${to} in list ${listId} is in cooldown until ${new Date(coolingUntil).toISOString()}`;
  return `destination ${to} not in list ${listId}`;
}

function velocityMismatch(v: VelocityClause, amount: bigint, ctx: EvaluationContext): string | null {
  const seen = ctx.velocity(v.per, v.windowSeconds);
  const total = seen.total + amount;
  const count = seen.count + 1;
  const share = ctx.velocityShare;
  const t = BigInt(share?.threshold ?? 1);
  const n = BigInt(share?.parties ?? 1);
  const of = share ? ` (this node's share of the limit, as one of ${share.parties} nodes signing ${share.threshold} at a time)` : '';
  if (v.maxTotal !== undefined) {
    const cap = (BigInt(v.maxTotal) * t) / n;
    if (total > cap) return `per-${v.per} total ${total} over ${v.windowSeconds}s would exceed ${cap}${of}`;
  }
  if (v.maxCount !== undefined) {
    const cap = share ? Number(((BigInt(v.maxCount) + 1n) * t - 1n) / n) : v.maxCount;
    if (count > cap) return `per-${v.per} count ${count} over ${v.windowSeconds}s would exceed ${cap}${of}`;
  }
  return null;
}
