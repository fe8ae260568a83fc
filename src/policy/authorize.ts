import { fromHex } from '../common/bytes.ts';
import { parseDerivationPath } from '../crypto/bip32-public.ts';
import { CustosError, ValidationError } from '../common/errors.ts';
import { checkIntent, decodePayload, type DecodedPayload } from '../chains/payload.ts';
import type { Policy } from './document.ts';
import { evaluate, type Decision, type PolicyRequest, type VelocityLookup } from './evaluate.ts';
import { requireRole, verifyBy } from './identity.ts';
import { checkApprovals } from './approvals.ts';
import { PolicyRefusal } from './refusal.ts';
import { signRequestDigest, type Authorization, type SignRequest } from './sign-request.ts';

/**
 * The whole decision a signer node makes before any share computation (issue 4, item 4), as pure
 * functions of the policy, the request and the node's own clock, first sight and counters:
 * `checkInitiator` (the initiator's signature and role), then `authorize`: the payload decoded by
 * the node and matched against the intent, the first matching rule, and for a rule that needs
 * approvals, the approvals and the timelock. The dry run (`POST /v1/policy/evaluate`) is `describeRequest` + `evaluate` with the
 * same inputs, so it cannot disagree with a real decision.
 */
/** `required`: parties every quorum of the key must include (a cold key's offline party), from the node's own key record. */
export type KeyFacts = { id: string; scheme: string; threshold: number; parties: string[]; required?: string[] };
export type Described = { digest: string; decoded: DecodedPayload; policyRequest: PolicyRequest };
export type Authorized = Described & { decision: Decision; approvers: string[] };

/** The initiator must exist in the policy, hold the role, and have signed this exact request. */
export function checkInitiator(policy: Policy, auth: Pick<Authorization, 'request' | 'signature'>): string {
  const digest = signRequestDigest(auth.request);
  let who;
  try {
    who = requireRole(policy.identities, auth.request.initiator, 'initiator');
  } catch (e) {
    throw new PolicyRefusal((e as CustosError).code === 'identity.unknown' ? 'request.unknown_initiator' : 'request.not_initiator', `${(e as Error).message} (policy version ${policy.version})`, { culprit: 'coordinator' });
  }
  if (!verifyBy(who, fromHex(digest), auth.signature)) throw new PolicyRefusal('request.bad_signature', `the request is not signed by its initiator ${who.id}`, { culprit: 'coordinator' });
  return digest;
}

/** The BIP32 account of a request: the first index of its derivation path, if it has one. */
function accountOf(path: string | undefined): number | undefined {
  const m = path?.match(/^m\/(\d+)/);
  return m ? Number(m[1]) : undefined;
}

/**
 * Decodes the payload, checks it against the intent, and builds what the rules match on.
 * `digest`: the request's digest when the caller has it already (checkInitiator returns it).
 */
export function describeRequest(policy: Policy, key: KeyFacts, request: SignRequest, digest: string = signRequestDigest(request)): Described {
  if (request.keyId !== key.id) throw new PolicyRefusal('request.wrong_key', `the request is for key ${request.keyId}, not ${key.id}`, { culprit: 'coordinator' });
  const ecdsa = key.scheme === 'ecdsa-secp256k1';
  // The path the policy matches on is the path the signer uses: parsed here for ECDSA keys, and
  // refused for keys that sign at their root (a path they ignore must not satisfy `accounts`).
  if (request.derivationPath !== undefined) {
    if (!ecdsa) throw new ValidationError(`derivationPath applies to ecdsa-secp256k1 keys only, not ${key.scheme}`, { code: 'derivation.unsupported' });
    parseDerivationPath(request.derivationPath);
  }
  if (ecdsa && request.payload.type === 'message') throw new ValidationError('an ecdsa-secp256k1 key signs 32-byte digests: use an eth-* payload or {"type":"digest"}', { code: 'sign.bad_payload' });
  if (!ecdsa && request.payload.type.startsWith('eth-')) throw new ValidationError(`a ${key.scheme} key cannot sign an ${request.payload.type} payload`, { code: 'sign.bad_payload' });
  const decoded = decodePayload(request.payload);
  const intent = request.intent ?? {};
  checkIntent(decoded, intent);
  let asset = '';
  // Typed data names a chain but moves no declared asset by itself: it gets none.
  if (decoded.chain !== null && decoded.txType !== 'typed-data') {
    const declared = policy.assets.find((a) => a.chain === decoded.chain && (a.contract ?? null)?.toLowerCase() === (decoded.contract ?? null)?.toLowerCase());
    asset = declared?.id ?? `undeclared:${decoded.chain}:${decoded.contract ?? 'native'}`;
    if (intent.asset !== undefined && intent.asset !== asset) {
      throw new PolicyRefusal('intent.mismatch', `the payload moves asset ${asset}, the intent says ${intent.asset}`, { detail: { field: 'asset' } });
    }
  }
  const policyRequest: PolicyRequest = {
    keyId: key.id, chain: decoded.chain ?? '', asset, txType: decoded.txType, amount: decoded.amount, initiator: request.initiator,
  };
  const account = accountOf(request.derivationPath);
  if (account !== undefined) policyRequest.account = account;
  if (decoded.to !== null) policyRequest.to = decoded.to;
  if (decoded.maxFee !== undefined) policyRequest.maxFee = decoded.maxFee;
  return { digest, decoded, policyRequest };
}

export type AuthorizeInput = {
  policy: Policy;
  key: KeyFacts;
  auth: Authorization;
  /** The request's digest, as checkInitiator returned it. */
  digest?: string;
  /** When this node first saw the request (timelock and expiry run from here, on its own clock). */
  firstSeen: Date;
  now: Date;
  /** The time expiries are decided on (default `now`; see checkApprovals). */
  expiryNow?: Date;
  /** The node's counters for this request's key, initiator and asset. */
  velocity: (d: Described) => VelocityLookup;
  /** Whether velocity limits can be enforced for this key (velocity-soundness.ts). */
  velocitySound: { ok: boolean; reason: string };
  /** Counters kept per node: each enforces its share of a limit (evaluate.ts). */
  velocityShare?: { threshold: number; parties: number };
};

/** The decision for a request whose initiator `checkInitiator` has already verified. */
export function authorize(i: AuthorizeInput): Authorized {
  const described = describeRequest(i.policy, i.key, i.auth.request, i.digest);
  const decision = evaluate(i.policy, described.policyRequest, { now: i.now, velocity: i.velocity(described), velocityShare: i.velocityShare });
  if (decision.rule !== null && !i.velocitySound.ok && i.policy.rules.find((r) => r.id === decision.rule)?.match.velocity) {
    throw new PolicyRefusal('policy.velocity_unsound', `rule ${decision.rule} limits velocity, which key ${i.key.id} cannot enforce: ${i.velocitySound.reason}`, { reasons: decision.reasons });
  }
  if (decision.decision === 'deny') throw new PolicyRefusal('policy.denied', `policy version ${i.policy.version} denies the request${decision.rule ? ` (rule ${decision.rule})` : ' (no rule matched)'}`, { reasons: decision.reasons, detail: { rule: decision.rule } });
  let approvers: string[] = [];
  if (decision.decision === 'approve') {
    try {
      approvers = checkApprovals(i.policy, decision.approvals!, described.digest, i.auth.approvals, i.firstSeen, i.now, i.expiryNow ?? i.now);
    } catch (e) {
      // Approvals missing: say which rule wants which, so a caller that did not expect it (a
      // coordinator whose preview lacks this node's counters) can send the request to approval.
      if (e instanceof PolicyRefusal && e.code === 'approval.insufficient') {
        throw new PolicyRefusal(e.code, e.message, { culprit: e.culprit, detail: { ...(e.detail ?? {}), rule: decision.rule, requirement: JSON.stringify(decision.approvals) } });
      }
      throw e;
    }
  }
  return { ...described, decision, approvers };
}
