import { asCustosError, CustosError, ProtocolAbort } from '../common/errors.ts';

/**
 * Runs one step on every party. If any fails: a failure the coordinator itself proved (an
 * envelope it verified, a ProtocolAbort of its own) names its culprit. A culprit that nodes only
 * claim is named when at least two and most of the parties other than the accused claim it (a
 * cheater cannot frame an honest node on its own word); otherwise the abort is reported as disputed. Every
 * party's report is attached.
 */
export async function settleAll<T>(parties: string[], fn: (party: string) => Promise<T>, protocol: 'dkg' | 'presign'): Promise<T[]> {
  const results = await Promise.allSettled(parties.map(fn));
  const failures = results.map((r, i) => ({ r, party: parties[i] })).filter((x) => x.r.status === 'rejected');
  if (failures.length === 0) return results.map((r) => (r as PromiseFulfilledResult<T>).value);
  const errs = failures.map((f) => ({ party: f.party, e: asCustosError((f.r as PromiseRejectedResult).reason) }));
  const claimOf = (e: CustosError) => (typeof e.detail?.claimedCulprit === 'string' ? e.detail.claimedCulprit : undefined);
  const reports = errs.map(({ party, e }) => `${party}: ${e.code}${e.culprit ?? claimOf(e) ? ` (culprit ${e.culprit ?? claimOf(e)})` : ''}`);
  const proven = errs.find(({ e }) => e instanceof ProtocolAbort && e.detail?.reportedBy === undefined);
  if (proven) {
    const e = proven.e;
    throw new ProtocolAbort(e.code, e.culprit!, e.message, { ...(e.detail ?? {}), reports });
  }
  const claims = new Map<string, { code: string; message: string; by: Set<string> }>();
  for (const { party, e } of errs) {
    const c = claimOf(e);
    if (!c || c === 'coordinator' || c === 'client' || c === party || !parties.includes(c)) continue;
    const k = `${c}|${e.code}`;
    if (!claims.has(k)) claims.set(k, { code: e.code, message: e.message, by: new Set() });
    claims.get(k)!.by.add(party);
  }
  for (const [k, v] of claims) {
    const accused = k.split('|')[0];
    const others = parties.filter((p) => p !== accused).length;
    // At least two accusers: in a two-party session the only accuser could be the cheater itself.
    if (v.by.size >= 2 && v.by.size * 2 > others) throw new ProtocolAbort(v.code, accused, v.message, { reports });
  }
  const first = errs[0].e;
  if (claims.size > 0) throw new CustosError(`${protocol}.disputed`, `the parties disagree about who broke ${protocol === 'dkg' ? 'key generation' : 'presigning'}; no culprit is named`, { status: 502, detail: { reports } });
  throw new CustosError(first.code, first.message, { status: first.status, culprit: first.culprit, detail: { ...(first.detail ?? {}), reports } });
}
