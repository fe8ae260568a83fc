import { toHex } from '../../../src/common/bytes.ts';
import type { DkgResult } from '../../../src/protocols/dkg/types.ts';
import {
  presignRound1, presignRound2, presignRound3, ROUND1, ROUND2,
  type PresignKey, type PresignShare, type Round1Broadcast, type Round1Direct, type Round2Direct,
} from '../../../src/protocols/dkls23/presign.ts';
import { combine, partialSign, type PartialSignature } from '../../../src/protocols/dkls23/sign.ts';
import { BROADCAST, payloadDigest, type Inbound } from '../../../src/protocols/message.ts';
import { seededRng } from '../../crypto/rng.ts';
import { makeNet, runDkg } from '../dkg/harness.ts';
import { testIdentities, type TestIdentities } from '../dkg/auth.ts';

/** TEST ONLY: an in-memory DKLs23 network over keys from our own DKG. */
export type EcdsaKeySet = { parties: string[]; results: Record<string, DkgResult> };

export function ecdsaKeys(threshold: number, n: number, seed = 'ecdsa'): EcdsaKeySet {
  const net = makeNet('ecdsa-secp256k1', threshold, n, seed);
  const out = runDkg(net);
  const failed = Object.entries(out.errors);
  if (failed.length) throw failed[0][1];
  return { parties: net.parties, results: out.results };
}

export function presignKeyOf(r: DkgResult): PresignKey {
  return { keySession: r.sessionId, parties: r.parties, self: r.self, verifyingShares: r.verifyingShares };
}

export type PresignHooks = {
  /** Rewrites what `from` sends in `round` to `to` ("*" = its broadcast) before it is signed. */
  mutate?: (round: string, from: string, to: string, payload: any) => any;
  /** Replaces the broadcast `to` receives from `from` in round 1 (equivocation). */
  deliverBroadcast?: (from: string, to: string, msg: Inbound<Round1Broadcast>, ids: TestIdentities) => Inbound<Round1Broadcast>;
};

export type PresignOutcome = { shares: Record<string, PresignShare[]>; errors: Record<string, any>; ids: TestIdentities; round2: Record<string, Round2Direct> };

/** Runs the three presigning rounds for `quorum`; each state goes through JSON between rounds. */
export function runPresign(keys: EcdsaKeySet, quorum: string[], presignIds: string[], hooks: PresignHooks = {}, session = 'presign.test'): PresignOutcome {
  const ids = testIdentities(session, keys.parties);
  const sign = <P>(from: string, round: string, to: string, payload: P): Inbound<P> => {
    const p = hooks.mutate ? hooks.mutate(round, from, to, structuredClone(payload)) : payload;
    return { from, payload: p, signature: ids.sign(from, round, to, payloadDigest(p)) };
  };
  const errors: Record<string, any> = {};
  const s1 = new Map<string, any>();
  const b1 = new Map<string, Inbound<Round1Broadcast>>();
  const d1 = new Map<string, Inbound<Round1Direct>>();
  for (const p of quorum) {
    const r = keys.results[p];
    const out = presignRound1(presignKeyOf(r), r.pairs!, quorum, presignIds, seededRng(`${session}/${p}/1`));
    s1.set(p, JSON.parse(JSON.stringify(out.state)));
    b1.set(p, sign(p, ROUND1, BROADCAST, out.broadcast));
    for (const [to, m] of Object.entries(out.direct)) d1.set(`${p}>${to}`, sign(p, ROUND1, to, m));
  }
  const s2 = new Map<string, any>();
  const d2 = new Map<string, Inbound<Round2Direct>>();
  for (const p of quorum) {
    const r = keys.results[p];
    const others = quorum.filter((q) => q !== p);
    try {
      const bs = others.map((q) => (hooks.deliverBroadcast ? hooks.deliverBroadcast(q, p, b1.get(q)!, ids) : b1.get(q)!));
      const out = presignRound2(presignKeyOf(r), r.pairs!, r.secretShare, s1.get(p), bs, others.map((q) => d1.get(`${q}>${p}`)!), seededRng(`${session}/${p}/2`));
      s2.set(p, JSON.parse(JSON.stringify(out.state)));
      for (const [to, m] of Object.entries(out.direct)) d2.set(`${p}>${to}`, sign(p, ROUND2, to, m));
    } catch (e) {
      errors[p] = e;
    }
  }
  const shares: Record<string, PresignShare[]> = {};
  for (const p of quorum) {
    if (errors[p]) continue;
    const r = keys.results[p];
    const others = quorum.filter((q) => q !== p);
    const inbound = others.map((q) => d2.get(`${q}>${p}`));
    if (inbound.some((m) => !m)) { errors[p] = new Error('missing round-2 message'); continue; }
    try {
      shares[p] = presignRound3(presignKeyOf(r), r.pairs!, r.secretShare, s2.get(p), inbound as Inbound<Round2Direct>[], ids.authenticator);
    } catch (e) {
      errors[p] = e;
    }
  }
  return { shares, errors, ids, round2: Object.fromEntries([...d2].map(([k, m]) => [k, m.payload])) };
}

export function maskKeysOf(keys: EcdsaKeySet, self: string, quorum: string[]): Record<string, string> {
  return Object.fromEntries(quorum.filter((q) => q !== self).map((q) => [q, keys.results[self].pairs![q].mask]));
}

/** Every quorum member's partial signature over `digest` under the (derived) key, then combined. */
export function signWithShares(keys: EcdsaKeySet, shares: Record<string, PresignShare>, digest: Uint8Array, publicKey: Uint8Array, tweak: bigint, binding: Uint8Array, tamper?: (from: string, p: PartialSignature) => PartialSignature) {
  const quorum = Object.values(shares)[0].quorum;
  const partials = quorum.map((p) => {
    const partial = partialSign(shares[p], p, keys.parties, maskKeysOf(keys, p, quorum), { digest, publicKey, tweak, binding });
    return { from: p, partial: tamper ? tamper(p, partial) : partial };
  });
  const s = shares[quorum[0]];
  return { partials, ...combine(s.sid, s.R, publicKey, digest, partials) };
}

export const hex = toHex;
