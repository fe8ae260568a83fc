import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, toHex, utf8 } from '../../../src/common/bytes.ts';
import type { Scheme } from '../../../src/common/schemes.ts';
import type { Rng } from '../../../src/crypto/random.ts';
import { finish, parseState, round1, round2, serializeState } from '../../../src/protocols/dkg/index.ts';
import type { DkgParams, DkgResult, DkgState, Round1Payload, Round2Payload } from '../../../src/protocols/dkg/types.ts';
import { BROADCAST, payloadDigest, type Inbound } from '../../../src/protocols/message.ts';
import { seededRng } from '../../crypto/rng.ts';
import { testIdentities, type TestIdentities } from './auth.ts';

/** TEST ONLY: an in-memory network of DKG parties with real encryption and identity keys. */
export type Net = {
  scheme: Scheme;
  threshold: number;
  parties: string[];
  sessionId: string;
  ids: TestIdentities;
  params(p: string): DkgParams;
  encryptionSecret(p: string): Uint8Array;
  rng(p: string, round: string): Rng;
};

export function makeNet(scheme: Scheme, threshold: number, n: number, seed = 'net'): Net {
  const parties = Array.from({ length: n }, (_, i) => `node-${String.fromCharCode(97 + i)}`);
  const sessionId = `dkg.test.${scheme}.${threshold}of${n}.${seed}`;
  const enc = new Map(parties.map((p) => [p, sha256(concatBytes(utf8(seed), utf8('/enc/'), utf8(p)))]));
  const encryptionKeys = Object.fromEntries(parties.map((p) => [p, toHex(p256.getPublicKey(enc.get(p)!, true))]));
  return {
    scheme, threshold, parties, sessionId,
    ids: testIdentities(sessionId, parties, seed),
    params: (self) => ({ sessionId, scheme, threshold, parties: [...parties], self, encryptionKeys: { ...encryptionKeys } }),
    encryptionSecret: (p) => enc.get(p)!.slice(),
    rng: (p, round) => seededRng(`${seed}/${p}/${round}`),
  };
}

export function signed<P>(net: Net, from: string, round: string, payload: P): Inbound<P> {
  return { from, payload, signature: net.ids.sign(from, round, BROADCAST, payloadDigest(payload)) };
}

export type RunHooks = {
  /** Rewrites `from`'s round-1 broadcast before it is signed. */
  mutate1?: (from: string, payload: Round1Payload) => Round1Payload;
  /** Replaces what `to` receives from `from` in round 1 (equivocation, forgery). */
  deliver1?: (from: string, to: string, msg: Inbound<Round1Payload>) => Inbound<Round1Payload>;
  mutate2?: (from: string, payload: Round2Payload) => Round2Payload;
  deliver2?: (from: string, to: string, msg: Inbound<Round2Payload>) => Inbound<Round2Payload>;
};

export type RunOutcome = {
  results: Record<string, DkgResult>;
  /** Errors by party, from whichever step threw. */
  errors: Record<string, unknown>;
  round1: Record<string, Inbound<Round1Payload>>;
  round2: Record<string, Inbound<Round2Payload>>;
};

/** Runs every party through all rounds; each state goes through serializeState/parseState between rounds. */
export function runDkg(net: Net, hooks: RunHooks = {}): RunOutcome {
  const { parties } = net;
  const errors: Record<string, unknown> = {};
  const states = new Map<string, DkgState>();
  const m1: Record<string, Inbound<Round1Payload>> = {};
  for (const p of parties) {
    const out = round1(net.params(p), net.rng(p, 'r1'));
    states.set(p, parseState(serializeState(out.state)));
    m1[p] = signed(net, p, 'dkg/1', hooks.mutate1 ? hooks.mutate1(p, out.broadcast) : out.broadcast);
  }
  const m2: Record<string, Inbound<Round2Payload>> = {};
  for (const p of parties) {
    const inbound = parties.filter((q) => q !== p).map((q) => (hooks.deliver1 ? hooks.deliver1(q, p, m1[q]) : m1[q]));
    try {
      const out = round2(states.get(p)!, inbound, net.encryptionSecret(p), net.ids.authenticator, net.rng(p, 'r2'));
      states.set(p, parseState(serializeState(out.state)));
      m2[p] = signed(net, p, 'dkg/2', hooks.mutate2 ? hooks.mutate2(p, out.broadcast) : out.broadcast);
    } catch (e) {
      errors[p] = e;
    }
  }
  const results: Record<string, DkgResult> = {};
  for (const p of parties) {
    if (errors[p] !== undefined) continue;
    const inbound: Inbound<Round2Payload>[] = [];
    for (const q of parties) {
      if (q === p) continue;
      if (!m2[q]) { errors[p] = new Error(`no round-2 message from ${q}`); break; }
      inbound.push(hooks.deliver2 ? hooks.deliver2(q, p, m2[q]) : m2[q]);
    }
    if (errors[p] !== undefined) continue;
    try {
      results[p] = finish(states.get(p)!, inbound, net.ids.authenticator);
    } catch (e) {
      errors[p] = e;
    }
  }
  return { results, errors, round1: m1, round2: m2 };
}

/** The (code, culprit) each of `parties` aborted with (undefined if it did not). */
export function abortsOf(outcome: RunOutcome, parties: string[]): { code: unknown; culprit: unknown }[] {
  return parties.map((p) => {
    const e = outcome.errors[p] as { code?: unknown; culprit?: unknown } | undefined;
    return { code: e?.code, culprit: e?.culprit };
  });
}
