import { CustosError, ProtocolAbort, UnavailableError } from '../common/errors.ts';

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
      const p = json as { code?: string; detail?: string; culprit?: string; status?: number };
      const code = typeof p.code === 'string' ? p.code : 'node.error';
      const detail = typeof p.detail === 'string' ? p.detail : `node ${this.id} failed`;
      if (typeof p.culprit === 'string' && p.culprit !== 'coordinator' && p.culprit !== 'client') {
        throw new ProtocolAbort(code, p.culprit, `node ${this.id} reports: ${detail}`, { reportedBy: this.id });
      }
      throw new CustosError(code, `node ${this.id} refused: ${detail}`, { status: res.status >= 500 ? 502 : 409, culprit: p.culprit, detail: { node: this.id } });
    }
    return json as T;
  }
}
