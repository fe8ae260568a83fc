import { CustosError, UnavailableError } from '../common/errors.ts';

/**
 * The coordinator's calls to one signer node. A node's problem+json answer is turned back into a
 * CustosError carrying the node's code and culprit; an unreachable node is UnavailableError.
 */
/** A node the coordinator reaches over HTTP (`url`) or, for an offline node, through bundles. */
export type NodeEndpoint = { id: string; url?: string; offline?: boolean };

/** How the coordinator calls one party, online (NodeClient) or offline (AirgapLink's client). */
export interface PartyClient {
  readonly id: string;
  get<T>(path: string, timeoutMs?: number): Promise<T>;
  post<T>(path: string, body: unknown, timeoutMs?: number): Promise<T>;
}

export class NodeClient implements PartyClient {
  readonly id: string;
  readonly url: string;
  readonly #timeoutMs: number;
  constructor(ep: { id: string; url: string }, timeoutMs = 30_000) {
    this.id = ep.id;
    this.url = ep.url.replace(/\/$/, '');
    this.#timeoutMs = timeoutMs;
  }

  async get<T>(path: string, timeoutMs = this.#timeoutMs): Promise<T> {
    return this.#call<T>('GET', path, undefined, timeoutMs);
  }

  async post<T>(path: string, body: unknown, timeoutMs = this.#timeoutMs): Promise<T> {
    return this.#call<T>('POST', path, body, timeoutMs);
  }

  async #call<T>(method: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.url + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch {
      throw new UnavailableError('node.unreachable', `node ${this.id} is unreachable`, { node: this.id });
    }
    const text = await res.text();
    let json: unknown;
    try { json = JSON.parse(text); } catch { throw new CustosError('node.bad_response', `node ${this.id} answered with invalid JSON`, { status: 502, culprit: this.id }); }
    if (!res.ok) throw nodeRefusal(this.id, res.status, json);
    return json as T;
  }
}

/** A node's problem+json refusal as the CustosError the coordinator acts on. */
export function nodeRefusal(node: string, status: number, json: unknown): CustosError {
  const p = (json ?? {}) as { code?: string; detail?: string; culprit?: string; status?: number; context?: { reasons?: unknown; notBefore?: unknown; rule?: unknown; requirement?: unknown } };
  const code = typeof p.code === 'string' ? p.code : 'node.error';
  const detail = typeof p.detail === 'string' ? p.detail : `node ${node} failed`;
  // A node's culprit is a claim, not evidence: the node itself may be the liar. It is kept as
  // `claimedCulprit`; only the coordinator's own checks, or agreement of the other parties
  // (dkg-runner), name a culprit.
  const claimed = typeof p.culprit === 'string' ? p.culprit : undefined;
  // A policy refusal (403) stays one, with the node's reasons: it is the node's decision.
  const reasons = Array.isArray(p.context?.reasons) ? p.context.reasons.filter((r): r is string => typeof r === 'string') : undefined;
  return new CustosError(code, `node ${node} refused: ${detail}`, {
    status: status >= 500 ? 502 : status === 403 ? 403 : 409,
    culprit: claimed === 'coordinator' ? 'coordinator' : undefined,
    detail: { node, reportedBy: node, ...(claimed ? { claimedCulprit: claimed } : {}), ...(reasons ? { reasons } : {}), ...(typeof p.context?.notBefore === 'string' ? { notBefore: p.context.notBefore } : {}),
      // What a rule asks for when approvals are missing (authorize.ts), for a request the coordinator did not expect to need them.
      ...(typeof p.context?.requirement === 'string' ? { requirement: p.context.requirement, rule: typeof p.context.rule === 'string' ? p.context.rule : null } : {}) },
  });
}
