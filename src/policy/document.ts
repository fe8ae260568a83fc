/**
 * The custody policy document (issue 4, item 2): versioned, ordered rules, first match wins,
 * default deny. This module only types and validates it; signing and activation live elsewhere.
 * `parsePolicy` is strict: unknown fields, dangling references and malformed amounts are refused
 * with ValidationError code 'policy.invalid' and the JSON path of the problem in `detail.path`.
 */
import { ValidationError } from '../common/errors.ts';
import { parseIdentity, type Identity } from './identity.ts';
import { BASE_UNITS, TX_TYPES, type TxType } from '../chains/payload.ts';

export { TX_TYPES, type TxType };

/**
 * An asset the policy knows; amounts for it are compared in base units (10^-decimals). A chain's
 * native asset (contract null) may carry `maxFee`: the most any transaction on that chain may pay
 * in fees (base units). A transaction on a chain without such a cap is denied.
 */
export interface Asset { id: string; chain: string; contract: string | null; decimals: number; maxFee?: string }
export interface AddressEntry { address: string; addedAt: string }
/** A named destination list; an entry only counts once `addedAt + cooldownSeconds` has passed. */
export interface AddressList { id: string; entries: AddressEntry[]; cooldownSeconds: number }
export interface Group { id: string; members: string[] }
/** A rolling-window limit; the evaluator adds the current request before comparing. */
export interface VelocityClause { windowSeconds: number; maxTotal?: string; maxCount?: number; per: 'key' | 'initiator' }
/** UTC minutes of day, [fromMinute, toMinute); from > to wraps across midnight. */
export interface TimeWindow { fromMinute: number; toMinute: number }
export interface Match {
  keys?: string[];
  accounts?: number[];
  chains?: string[];
  assets?: string[];
  txTypes?: TxType[];
  destination?: { list: string };
  amountMin?: string;
  amountMax?: string;
  velocity?: VelocityClause[];
  timeWindows?: TimeWindow[];
  initiators?: string[];
}
export interface GroupRequirement { group: string; threshold: number }
export type Action =
  | { type: 'allow' }
  | { type: 'block' }
  | { type: 'approve'; groups: GroupRequirement[]; timelockSeconds: number; expirySeconds: number };
export interface Rule { id: string; match: Match; action: Action }
export interface Policy {
  version: number;
  /** Everyone who may act: initiators, approvers, admins, auditors, with their public keys. */
  identities: Identity[];
  /** How many admins must sign the next version of this policy. */
  adminThreshold: number;
  assets: Asset[];
  addressLists: AddressList[];
  groups: Group[];
  rules: Rule[];
}

const MINUTES_PER_DAY = 24 * 60;
/** Bound on every duration, so times computed from them stay valid dates (ten years). */
const MAX_SECONDS = 10 * 365 * 24 * 3600;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function fail(path: string, message: string): never {
  throw new ValidationError(`policy ${path}: ${message}`, { code: 'policy.invalid', detail: { path } });
}

type Obj = Record<string, unknown>;

function obj(v: unknown, path: string, allowed: readonly string[]): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'must be an object');
  for (const k of Object.keys(v)) if (!allowed.includes(k)) fail(`${path}.${k}`, 'unknown field');
  return v as Obj;
}

function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, 'must be an array');
  return v;
}

function nonEmptyArr(v: unknown, path: string): unknown[] {
  const a = arr(v, path);
  if (a.length === 0) fail(path, 'must not be empty (omit the field to match anything)');
  return a;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0) fail(path, 'must be a non-empty string');
  return v;
}

function int(v: unknown, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) fail(path, `must be an integer in [${min}, ${max}]`);
  return v;
}

function baseUnits(v: unknown, path: string): string {
  if (typeof v !== 'string' || !BASE_UNITS.test(v)) fail(path, 'must be a non-negative integer as a decimal string (base units)');
  return v;
}

function strList(v: unknown, path: string): string[] {
  const a = nonEmptyArr(v, path).map((x, i) => str(x, `${path}[${i}]`));
  unique(a, path);
  return a;
}

function unique(ids: readonly unknown[], path: string): void {
  const seen = new Set<unknown>();
  ids.forEach((id, i) => {
    if (seen.has(id)) fail(`${path}[${i}]`, `duplicate ${JSON.stringify(id)}`);
    seen.add(id);
  });
}

function uniqueIds(items: { id: string }[], path: string): Set<string> {
  const seen = new Set<string>();
  items.forEach((it, i) => {
    if (seen.has(it.id)) fail(`${path}[${i}].id`, `duplicate id ${JSON.stringify(it.id)}`);
    seen.add(it.id);
  });
  return seen;
}

function parseAsset(v: unknown, p: string): Asset {
  const o = obj(v, p, ['id', 'chain', 'contract', 'decimals', 'maxFee']);
  const contract = o.contract === undefined || o.contract === null ? null : str(o.contract, `${p}.contract`);
  const a: Asset = { id: str(o.id, `${p}.id`), chain: str(o.chain, `${p}.chain`), contract, decimals: int(o.decimals, `${p}.decimals`, 0, 36) };
  if (o.maxFee !== undefined) {
    if (contract !== null) fail(`${p}.maxFee`, 'applies to a chain\'s native asset (contract null) only: fees are paid in it');
    a.maxFee = baseUnits(o.maxFee, `${p}.maxFee`);
  }
  return a;
}

function parseList(v: unknown, p: string): AddressList {
  const o = obj(v, p, ['id', 'entries', 'cooldownSeconds']);
  const entries = arr(o.entries, `${p}.entries`).map((e, i) => {
    const ep = `${p}.entries[${i}]`;
    const eo = obj(e, ep, ['address', 'addedAt']);
    const addedAt = str(eo.addedAt, `${ep}.addedAt`);
    if (!ISO_TIME.test(addedAt) || Number.isNaN(Date.parse(addedAt))) fail(`${ep}.addedAt`, 'must be an ISO 8601 time with zone');
    return { address: str(eo.address, `${ep}.address`), addedAt };
  });
  return { id: str(o.id, `${p}.id`), entries, cooldownSeconds: int(o.cooldownSeconds, `${p}.cooldownSeconds`, 0, MAX_SECONDS) };
}

function parseGroup(v: unknown, p: string, identities: Map<string, Identity>): Group {
  const o = obj(v, p, ['id', 'members']);
  const members = strList(o.members, `${p}.members`);
  // A group member who cannot approve would make its threshold unreachable without anyone noticing.
  members.forEach((id, i) => { if (!identities.get(id)?.roles.includes('approver')) fail(`${p}.members[${i}]`, `${JSON.stringify(id)} is not an identity with the approver role`); });
  return { id: str(o.id, `${p}.id`), members };
}

interface Refs { assets: Set<string>; lists: Set<string>; groups: Map<string, number>; identities: Map<string, Identity> }

function parseMatch(v: unknown, p: string, refs: Refs): Match {
  const o = obj(v, p, ['keys', 'accounts', 'chains', 'assets', 'txTypes', 'destination', 'amountMin', 'amountMax', 'velocity', 'timeWindows', 'initiators']);
  const m: Match = {};
  if (o.keys !== undefined) m.keys = strList(o.keys, `${p}.keys`);
  if (o.accounts !== undefined) {
    m.accounts = nonEmptyArr(o.accounts, `${p}.accounts`).map((a, i) => int(a, `${p}.accounts[${i}]`, 0, 0x7fffffff));
    unique(m.accounts, `${p}.accounts`);
  }
  if (o.chains !== undefined) m.chains = strList(o.chains, `${p}.chains`);
  if (o.assets !== undefined) {
    m.assets = strList(o.assets, `${p}.assets`);
    m.assets.forEach((a, i) => { if (!refs.assets.has(a)) fail(`${p}.assets[${i}]`, `unknown asset ${JSON.stringify(a)}`); });
  }
  if (o.txTypes !== undefined) {
    const t = strList(o.txTypes, `${p}.txTypes`);
    t.forEach((x, i) => { if (!(TX_TYPES as readonly string[]).includes(x)) fail(`${p}.txTypes[${i}]`, `must be one of ${TX_TYPES.join(', ')}`); });
    m.txTypes = t as TxType[];
  }
  if (o.destination !== undefined) {
    const d = obj(o.destination, `${p}.destination`, ['list']);
    const list = str(d.list, `${p}.destination.list`);
    if (!refs.lists.has(list)) fail(`${p}.destination.list`, `unknown address list ${JSON.stringify(list)}`);
    m.destination = { list };
  }
  if (o.amountMin !== undefined) m.amountMin = baseUnits(o.amountMin, `${p}.amountMin`);
  if (o.amountMax !== undefined) m.amountMax = baseUnits(o.amountMax, `${p}.amountMax`);
  if (m.amountMin !== undefined && m.amountMax !== undefined && BigInt(m.amountMin) > BigInt(m.amountMax)) fail(`${p}.amountMin`, 'must not exceed amountMax');
  if (o.velocity !== undefined) {
    m.velocity = nonEmptyArr(o.velocity, `${p}.velocity`).map((x, i) => {
      const vp = `${p}.velocity[${i}]`;
      const vo = obj(x, vp, ['windowSeconds', 'maxTotal', 'maxCount', 'per']);
      if (vo.per !== 'key' && vo.per !== 'initiator') fail(`${vp}.per`, "must be 'key' or 'initiator'");
      const c: VelocityClause = { windowSeconds: int(vo.windowSeconds, `${vp}.windowSeconds`, 1, MAX_SECONDS), per: vo.per };
      if (vo.maxTotal !== undefined) c.maxTotal = baseUnits(vo.maxTotal, `${vp}.maxTotal`);
      if (vo.maxCount !== undefined) c.maxCount = int(vo.maxCount, `${vp}.maxCount`, 0);
      if (c.maxTotal === undefined && c.maxCount === undefined) fail(vp, 'needs maxTotal or maxCount');
      return c;
    });
  }
  if (o.timeWindows !== undefined) {
    m.timeWindows = nonEmptyArr(o.timeWindows, `${p}.timeWindows`).map((x, i) => {
      const wp = `${p}.timeWindows[${i}]`;
      const wo = obj(x, wp, ['fromMinute', 'toMinute']);
      const w = { fromMinute: int(wo.fromMinute, `${wp}.fromMinute`, 0, MINUTES_PER_DAY - 1), toMinute: int(wo.toMinute, `${wp}.toMinute`, 0, MINUTES_PER_DAY) };
      if (w.fromMinute === w.toMinute) fail(wp, 'empty window (fromMinute equals toMinute)');
      return w;
    });
  }
  if (o.initiators !== undefined) {
    m.initiators = strList(o.initiators, `${p}.initiators`);
    m.initiators.forEach((id, i) => { if (!refs.identities.get(id)?.roles.includes('initiator')) fail(`${p}.initiators[${i}]`, `${JSON.stringify(id)} is not an identity with the initiator role`); });
  }
  return m;
}

function parseAction(v: unknown, p: string, refs: Refs): Action {
  const t = (v as Obj | null)?.type;
  if (t === 'allow' || t === 'block') {
    obj(v, p, ['type']);
    return { type: t };
  }
  if (t !== 'approve') {
    obj(v, p, ['type', 'groups', 'timelockSeconds', 'expirySeconds']);
    fail(`${p}.type`, "must be 'allow', 'block' or 'approve'");
  }
  const o = obj(v, p, ['type', 'groups', 'timelockSeconds', 'expirySeconds']);
  const groups = nonEmptyArr(o.groups, `${p}.groups`).map((g, i) => {
    const gp = `${p}.groups[${i}]`;
    const go = obj(g, gp, ['group', 'threshold']);
    const group = str(go.group, `${gp}.group`);
    const size = refs.groups.get(group);
    if (size === undefined) fail(`${gp}.group`, `unknown group ${JSON.stringify(group)}`);
    const threshold = int(go.threshold, `${gp}.threshold`, 1);
    if (threshold > size) fail(`${gp}.threshold`, `exceeds the size of group ${JSON.stringify(group)} (${size})`);
    return { group, threshold };
  });
  unique(groups.map((g) => g.group), `${p}.groups`);
  const timelockSeconds = int(o.timelockSeconds, `${p}.timelockSeconds`, 0, MAX_SECONDS);
  const expirySeconds = int(o.expirySeconds, `${p}.expirySeconds`, 1, MAX_SECONDS);
  // An expiry inside the timelock could never be satisfied.
  if (expirySeconds <= timelockSeconds) fail(`${p}.expirySeconds`, 'must be greater than timelockSeconds');
  return { type: 'approve', groups, timelockSeconds, expirySeconds };
}

/** Validates an untrusted JSON value into a Policy; throws ValidationError('policy.invalid'). */
export function parsePolicy(json: unknown): Policy {
  const o = obj(json, '$', ['version', 'identities', 'adminThreshold', 'assets', 'addressLists', 'groups', 'rules']);
  const version = int(o.version, '$.version', 1);
  const identities = arr(o.identities, '$.identities').map((x, i) => {
    try {
      return parseIdentity(x, `$.identities[${i}]`);
    } catch (e) {
      fail((e as ValidationError).detail?.path as string ?? `$.identities[${i}]`, (e as Error).message.replace(/^identity \S+: /, ''));
    }
  });
  const byId = new Map<string, Identity>();
  const byKey = new Map<string, string>();
  identities.forEach((x, i) => {
    if (byId.has(x.id)) fail(`$.identities[${i}].id`, `duplicate id ${JSON.stringify(x.id)}`);
    // One key under two names would let one person count as two admins or approvers.
    const other = byKey.get(x.publicKey);
    if (other !== undefined) fail(`$.identities[${i}].publicKey`, `is also the key of ${JSON.stringify(other)}: one key, one identity`);
    byId.set(x.id, x);
    byKey.set(x.publicKey, x.id);
  });
  const admins = identities.filter((x) => x.roles.includes('admin')).length;
  // Without enough admins to sign the next version, the policy could never be changed again.
  const adminThreshold = int(o.adminThreshold, '$.adminThreshold', 1);
  if (adminThreshold > admins) fail('$.adminThreshold', `exceeds the number of identities with the admin role (${admins})`);
  const assets = arr(o.assets, '$.assets').map((a, i) => parseAsset(a, `$.assets[${i}]`));
  const addressLists = arr(o.addressLists, '$.addressLists').map((l, i) => parseList(l, `$.addressLists[${i}]`));
  const groups = arr(o.groups, '$.groups').map((g, i) => parseGroup(g, `$.groups[${i}]`, byId));
  const refs: Refs = {
    identities: byId,
    assets: uniqueIds(assets, '$.assets'),
    lists: uniqueIds(addressLists, '$.addressLists'),
    groups: new Map(groups.map((g) => [g.id, g.members.length])),
  };
  uniqueIds(groups, '$.groups');
  const rules = arr(o.rules, '$.rules').map((r, i) => {
    const rp = `$.rules[${i}]`;
    const ro = obj(r, rp, ['id', 'match', 'action']);
    return { id: str(ro.id, `${rp}.id`), match: parseMatch(ro.match, `${rp}.match`, refs), action: parseAction(ro.action, `${rp}.action`, refs) };
  });
  uniqueIds(rules, '$.rules');
  return { version, identities, adminThreshold, assets, addressLists, groups, rules };
}
