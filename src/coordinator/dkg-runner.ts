import { randomUUID } from 'node:crypto';
import { asCustosError, CustosError, ProtocolAbort, UnavailableError } from '../common/errors.ts';
import type { Scheme } from '../common/schemes.ts';
import type { Envelope } from '../wire/envelope.ts';
import { BROADCAST } from '../protocols/message.ts';
import { dkgSessionId } from '../wire/dkg-session.ts';
import type { KeyAttestation } from '../wire/attestation.ts';
import type { Cluster } from './cluster.ts';

/**
 * Relays one DKG between the parties: it only forwards signed envelopes (shares inside are
 * encrypted to their receivers) and collects the parties' attestations. `onRelay` lets tests see
 * exactly what crossed the coordinator.
 */
export type GroupPublic = {
  scheme: Scheme; threshold: number; parties: string[]; groupCommitments: string[];
  verifyingShares: Record<string, string>; transcriptHash: string; publicKey: string; internalKey?: string;
};
export type DkgOutcome = { keyId: string; publicKey: string; attestations: KeyAttestation[]; groupPublic: GroupPublic };

export async function runDkg(cluster: Cluster, req: { scheme: Scheme; threshold: number; parties: string[] }, onRelay?: (round: string, envs: Envelope[]) => void): Promise<DkgOutcome> {
  const keyId = randomUUID();
  const sessionId = dkgSessionId(keyId, req);
  for (const p of req.parties) if (!cluster.isUp(p)) {
    await cluster.probe();
    if (!cluster.isUp(p)) throw new UnavailableError('node.unreachable', `key generation needs every party, and node ${p} is unreachable`, { node: p });
  }
  const all = <T>(fn: (party: string) => Promise<T>) => settleAll(req.parties, fn);

  const check = (round: string, envs: Envelope[]) => envs.map((e, i) => cluster.checkAnswer(e, req.parties[i], { session: sessionId, round, to: BROADCAST }));
  const r1 = check('dkg/1', await all((p) => cluster.client(p).post<Envelope>('/v1/dkg/round1', { keyId, sessionId, scheme: req.scheme, threshold: req.threshold, parties: req.parties })));
  onRelay?.('dkg/1', r1);
  const others = (envs: Envelope[], p: string) => envs.filter((e) => e.from !== p);
  const r2 = check('dkg/2', await all((p) => cluster.client(p).post<Envelope>('/v1/dkg/round2', { sessionId, messages: others(r1, p) })));
  onRelay?.('dkg/2', r2);
  const r3 = check('dkg/3', await all((p) => cluster.client(p).post<Envelope>('/v1/dkg/finish', { sessionId, messages: others(r2, p) })));
  onRelay?.('dkg/3', r3);
  const confirmed = await all((p) => cluster.client(p).post<{ publicKey: string; attestations: KeyAttestation[] }>('/v1/dkg/confirm', { sessionId, messages: others(r3, p) }));
  const publicKey = confirmed[0].publicKey;
  const attestations = confirmed[0].attestations;
  // Every party derives the public package from the same transcript; fetch all and require agreement.
  const pubs = await all((p) => cluster.client(p).get<GroupPublic>(`/v1/keys/${keyId}/public`));
  const texts = pubs.map((g) => JSON.stringify(g));
  const ref = texts.find((t) => texts.filter((x) => x === t).length * 2 > texts.length);
  if (!ref) throw new CustosError('dkg.inconsistent', 'the parties report different public packages and no majority agrees', { status: 502 });
  texts.forEach((t, i) => {
    if (t !== ref) throw new ProtocolAbort('dkg.inconsistent', req.parties[i], `${req.parties[i]} reports another public package than the other parties`);
  });
  const groupPublic = JSON.parse(ref) as GroupPublic;
  if (groupPublic.publicKey !== publicKey) throw new CustosError('dkg.inconsistent', 'the attested public key differs from the public package', { status: 502 });
  return { keyId, publicKey, attestations, groupPublic };
}

/**
 * Runs one step on every party. If any fails: a failure the coordinator itself proved (an
 * envelope it verified, a ProtocolAbort of its own) names its culprit. A culprit that nodes only
 * claim is named when most of the parties other than the accused claim it (a cheater cannot
 * frame an honest node on its own word); otherwise the abort is reported as disputed. Every
 * party's report is attached.
 */
async function settleAll<T>(parties: string[], fn: (party: string) => Promise<T>): Promise<T[]> {
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
    if (v.by.size * 2 > others) throw new ProtocolAbort(v.code, accused, v.message, { reports });
  }
  const first = errs[0].e;
  if (claims.size > 0) throw new CustosError('dkg.disputed', 'the parties disagree about who broke key generation; no culprit is named', { status: 502, detail: { reports } });
  throw new CustosError(first.code, first.message, { status: first.status, culprit: first.culprit, detail: { ...(first.detail ?? {}), reports } });
}
