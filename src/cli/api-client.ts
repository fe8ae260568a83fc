import { CustosError } from '../common/errors.ts';

/** The CLI's client of the coordinator API; problem+json answers become CustosErrors. */
export class ApiClient {
  readonly base: string;
  readonly #token: string | undefined;
  /** `token`: the API token sent as a bearer (see defaultToken in args.ts). */
  constructor(base: string, token?: string) { this.base = base.replace(/\/$/, ''); this.#token = token; }

  async get(path: string, acceptErrorBody = false): Promise<unknown> { return this.#call('GET', path, undefined, {}, acceptErrorBody); }
  async post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<unknown> { return this.#call('POST', path, body, headers, false); }
  async text(path: string): Promise<string> {
    const res = await this.#fetch('GET', path, undefined, {});
    return res.text();
  }

  async #fetch(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<Response> {
    try {
      return await fetch(this.base + path, { method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}), ...headers }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(120_000) });
    } catch {
      throw new CustosError('cli.unreachable', `cannot reach the coordinator at ${this.base} (is "npm start" running? set CUSTOS_URL or --url)`, { status: 503 });
    }
  }

  async #call(method: string, path: string, body: unknown, headers: Record<string, string>, acceptErrorBody: boolean): Promise<unknown> {
    const res = await this.#fetch(method, path, body, headers);
    const text = await res.text();
    let json: unknown;
    try { json = JSON.parse(text); } catch { throw new CustosError('cli.bad_response', `the coordinator answered ${res.status} with non-JSON`, { status: 502 }); }
    if (!res.ok && !acceptErrorBody) {
      const p = json as { code?: string; detail?: string; culprit?: string };
      throw new CustosError(p.code ?? 'api.error', p.detail ?? `HTTP ${res.status}`, { status: res.status, culprit: p.culprit });
    }
    return json;
  }
}
