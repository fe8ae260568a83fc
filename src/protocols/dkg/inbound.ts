import { ProtocolAbort, ValidationError } from '../../common/errors.ts';
import { BROADCAST, payloadDigest, type Authenticator } from '../message.ts';
import type { DkgParams } from './types.ts';

/** An inbound broadcast whose sender signature has been checked, with its payload digest. */
export type VerifiedInbound = { from: string; payload: unknown; signature: string; digest: Uint8Array };

const relayFault = (code: string, message: string, party?: string) =>
  new ValidationError(message, { code, detail: party === undefined ? undefined : { party } });

/**
 * Checks that `inbound` holds exactly one message of `round` from every other party, then the
 * signature of each, in party order. Who is missing, unknown, duplicated or ourselves is the
 * relay's fault, not a party's: a ValidationError naming the sender (the session may go on with
 * the right messages). A signature that does not verify is blamed on its claimed sender, as the
 * protocol's identifiable-abort rule says: ProtocolAbort `dkg.bad_signature`.
 */
export function verifyInbound(params: DkgParams, inbound: unknown, round: string, auth: Authenticator): VerifiedInbound[] {
  if (!Array.isArray(inbound)) throw relayFault('dkg.bad_inbound', `${round} inbound must be an array of messages`);
  const byFrom = new Map<string, { payload: unknown; signature: string }>();
  inbound.forEach((m: unknown, k) => {
    if (typeof m !== 'object' || m === null) throw relayFault('dkg.bad_inbound', `${round} inbound[${k}] must be an object`);
    const { from, payload, signature } = m as Record<string, unknown>;
    if (typeof from !== 'string') throw relayFault('dkg.bad_inbound', `${round} inbound[${k}].from must be a string`);
    if (!params.parties.includes(from)) throw relayFault('dkg.unknown_sender', `${round} message from ${JSON.stringify(from)}, which is not a party of session ${params.sessionId}`, from);
    if (from === params.self) throw relayFault('dkg.self_message', `${round} message from ${from}, which is this party itself`, from);
    if (byFrom.has(from)) throw relayFault('dkg.duplicate_sender', `two ${round} messages from ${from}`, from);
    if (typeof signature !== 'string') throw relayFault('dkg.bad_inbound', `${round} message from ${from} has no signature`, from);
    if (payload === undefined) throw relayFault('dkg.bad_inbound', `${round} message from ${from} has no payload`, from);
    byFrom.set(from, { payload, signature });
  });
  const missing = params.parties.filter((p) => p !== params.self && !byFrom.has(p));
  if (missing.length) throw relayFault('dkg.missing_sender', `${round} is missing messages from ${missing.join(', ')}`, missing[0]);

  const out: VerifiedInbound[] = [];
  for (const from of params.parties) {
    const m = byFrom.get(from);
    if (!m) continue;
    let digest: Uint8Array | undefined;
    try {
      digest = payloadDigest(m.payload);
    } catch {
      digest = undefined; // not canonical JSON: nothing its sender can have signed
    }
    if (!digest || !verifies(auth, from, round, digest, m.signature)) {
      throw new ProtocolAbort('dkg.bad_signature', from, `${from}'s ${round} message does not carry a valid signature by ${from}`, { round });
    }
    out.push({ from, payload: m.payload, signature: m.signature, digest });
  }
  return out;
}

/** auth.verify for a broadcast of `round`, treating a throwing verifier as a failed check. */
export function verifies(auth: Authenticator, from: string, round: string, digest: Uint8Array, signature: string): boolean {
  try {
    return auth.verify(from, round, BROADCAST, digest, signature) === true;
  } catch {
    return false;
  }
}
