import { randomUUID } from 'node:crypto';
import { CustosError, ProtocolAbort, UnavailableError } from '../common/errors.ts';
import { settleAll as settle } from './settle.ts';
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
  /** A cold key's parties that every quorum must include. */
  requiredParties?: string[];
};
export type DkgOutcome = { keyId: string; publicKey: string; attestations: KeyAttestation[]; groupPublic: GroupPublic };

/** A 10-party ECDSA key generation moves megabytes of base-OT proofs per round and verifies them
 * on every node: minutes on a small machine, where a signing call takes milliseconds. */
const DKG_STEP_TIMEOUT_MS = 10 * 60_000;

export type DkgRequest = { scheme: Scheme; threshold: number; parties: string[]; requiredParties?: string[] };

export async function runDkg(cluster: Cluster, req: DkgRequest, onRelay?: (round: string, envs: Envelope[]) => void, keyId: string = randomUUID()): Promise<DkgOutcome> {
  const sessionId = dkgSessionId(keyId, req);
  for (const p of req.parties) if (!cluster.isOffline(p) && !cluster.isUp(p)) {
    await cluster.probe();
    if (!cluster.isUp(p)) throw new UnavailableError('node.unreachable', `key generation needs every party, and node ${p} is unreachable`, { node: p });
  }
  const all = <T>(fn: (party: string) => Promise<T>) => settle(req.parties, fn, 'dkg');

  const check = (round: string, envs: Envelope[]) => envs.map((e, i) => cluster.checkAnswer(e, req.parties[i], { session: sessionId, round, to: BROADCAST }));
  const r1 = check('dkg/1', await all((p) => cluster.client(p).post<Envelope>('/v1/dkg/round1', { keyId, sessionId, scheme: req.scheme, threshold: req.threshold, parties: req.parties, ...(req.requiredParties?.length ? { requiredParties: req.requiredParties } : {}) }, DKG_STEP_TIMEOUT_MS)));
  onRelay?.('dkg/1', r1);
  const others = (envs: Envelope[], p: string) => envs.filter((e) => e.from !== p);
  const r2 = check('dkg/2', await all((p) => cluster.client(p).post<Envelope>('/v1/dkg/round2', { sessionId, messages: others(r1, p) }, DKG_STEP_TIMEOUT_MS)));
  onRelay?.('dkg/2', r2);
  const r3 = check('dkg/3', await all((p) => cluster.client(p).post<Envelope>('/v1/dkg/finish', { sessionId, messages: others(r2, p) }, DKG_STEP_TIMEOUT_MS)));
  onRelay?.('dkg/3', r3);
  const confirmed = await all((p) => cluster.client(p).post<{ publicKey: string; attestations: KeyAttestation[] }>('/v1/dkg/confirm', { sessionId, messages: others(r3, p) }, DKG_STEP_TIMEOUT_MS));
  const publicKey = confirmed[0].publicKey;
  const attestations = confirmed[0].attestations;
  // Every party derives the public package from the same transcript; fetch it from every online
  // party and require agreement (an offline party's attestation, checked by every node at
  // confirmation, covers the public key, transcript and chain code without another crossing).
  const online = req.parties.filter((p) => !cluster.isOffline(p));
  const pubs = await settle(online, (p) => cluster.client(p).get<GroupPublic>(`/v1/keys/${keyId}/public`), 'dkg');
  const texts = pubs.map((g) => JSON.stringify(g));
  const ref = texts.find((t) => texts.filter((x) => x === t).length * 2 > texts.length);
  if (!ref) throw new CustosError('dkg.inconsistent', 'the parties report different public packages and no majority agrees', { status: 502 });
  texts.forEach((t, i) => {
    if (t !== ref) throw new ProtocolAbort('dkg.inconsistent', online[i], `${online[i]} reports another public package than the other parties`);
  });
  const groupPublic = JSON.parse(ref) as GroupPublic;
  if (groupPublic.publicKey !== publicKey) throw new CustosError('dkg.inconsistent', 'the attested public key differs from the public package', { status: 502 });
  return { keyId, publicKey, attestations, groupPublic };
}
