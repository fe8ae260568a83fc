import { CustosError, UnavailableError } from '../common/errors.ts';

/**
 * The coordinator's calls to one signer node. A node's problem+json answer is turned back into a
 * CustosError carrying the node's code and culprit; an unreachable node is UnavailableError.
 */
export type NodeEndpoint = { id: string; url: string };

export class NodeClient {
  readonly id: string;
  readonly url: string;
  readonly #timeoutMs: number;
  constructor(ep: NodeEndpoint, timeoutMs = 30_000) {
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
    if (!res.ok) {
      const p = json as { code?: string; detail?: string; culprit?: string; status?: number; context?: { reasons?: unknown } };
      const code = typeof p.code === 'string' ? p.code : 'node.error';
      const detail = typeof p.detail === 'string' ? p.detail : `node ${this.id} failed`;
      // A node's culprit is a claim, not evidence: the node itself may be the liar. It is kept as
      // `claimedCulprit`; only the coordinator's own checks, or agreement of the other parties
      // (dkg-runner), name a culprit.
      const claimed = typeof p.culprit === 'string' ? p.culprit : undefined;
      // A policy refusal (403) stays one, with the node's reasons: it is the node's decision.
      const reasons = Array.isArray(p.context?.reasons) ? p.context.reasons.filter((r): r is string => typeof r === 'string') : undefined;
      throw new CustosError(code, `node ${this.id} refused: ${detail}`, {
        status: res.status >= 500 ? 502 : res.status === 403 ? 403 : 409,
        culprit: claimed === 'coordinator' ? 'coordinator' : undefined,
        detail: { node: this.id, reportedBy: this.id, ...(claimed ? { claimedCulprit: claimed } : {}), ...(reasons ? { reasons } : {}) },
      });
    }
    return json as T;
  }
}
