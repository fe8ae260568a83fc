import { ValidationError } from '../common/errors.ts';
import { approvalBy } from '../policy/client-signing.ts';
import { parseSignRequest, signRequestDigest } from '../policy/sign-request.ts';
import { REQUEST_STATES } from '../coordinator/request-store.ts';
import { defaultToken, defaultUrl, parse } from './args.ts';
import { ApiClient } from './api-client.ts';
import { identityFor, note, print, usage } from './commands.ts';

/**
 * `custos requests`: the sign-request lifecycle (issue 4, item 5) as a client sees it. Approving
 * signs an approval with the approver's own identity key; the coordinator only relays it and every
 * node checks it against the policy.
 */
export const REQUESTS_HELP = `Usage: custos requests list|show|approve|cancel ...

  custos requests list [--status S] [--key ID] [--initiator ID] [--limit N] [--after TIME]
      oldest first; S is one of ${REQUEST_STATES.join(', ')};
      --limit 1..500 (default 100); --after TIME: only requests created after TIME (ISO 8601;
      to page on, pass the createdAt of the last request shown)
  custos requests show ID
  custos requests approve ID [--as APPROVER] [--reject] [--expires-in SECONDS] [--credentials FILE]
      fetches the request, signs an approval of its request digest with APPROVER's key (default:
      the first identity with the approver role in FILE; FILE defaults to
      $CUSTOS_HOME/credentials.json) and submits it. --reject signs a rejection instead.
      --expires-in: how long the approval stays valid (default 86400 seconds)
  custos requests cancel ID [--reason TEXT]
Options: --url URL (default $CUSTOS_URL); the API token is $CUSTOS_TOKEN or the demo's.`;

const DEFAULT_APPROVAL_SECONDS = 86400;

export async function cmdRequests(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') { print(REQUESTS_HELP); return sub === undefined ? 2 : 0; }
  const url = { url: { type: 'string' } } as const;
  const oneId = (positionals: string[]) => {
    if (!positionals[0]) throw usage(`requests ${sub} needs a request id`);
    if (positionals.length > 1) throw usage(`requests ${sub} takes one request id`);
    return encodeURIComponent(positionals[0]);
  };
  const api = (u: string | undefined) => new ApiClient(u ?? defaultUrl(), defaultToken());
  switch (sub) {
    case 'list': {
      const { values, positionals } = parse(rest, { ...url, status: { type: 'string' }, key: { type: 'string' }, initiator: { type: 'string' }, limit: { type: 'string' }, after: { type: 'string' } } as const, true);
      if (values.help) { print(REQUESTS_HELP); return 0; }
      if (positionals.length) throw usage('requests list takes no positional arguments; filter with --status, --key, --initiator');
      if (values.status !== undefined && !(REQUEST_STATES as readonly string[]).includes(values.status)) throw usage(`--status must be one of ${REQUEST_STATES.join(', ')}`);
      if (values.limit !== undefined && (!/^[1-9]\d*$/.test(values.limit) || Number(values.limit) > 500)) throw usage('--limit must be an integer 1..500');
      const q = new URLSearchParams();
      for (const [k, v] of [['status', values.status], ['keyId', values.key], ['initiator', values.initiator], ['limit', values.limit], ['after', values.after]] as const) if (v !== undefined) q.set(k, v);
      print(await api(values.url).get(`/v1/requests${q.size ? `?${q}` : ''}`));
      return 0;
    }
    case 'show': {
      const { values, positionals } = parse(rest, url, true);
      if (values.help) { print(REQUESTS_HELP); return 0; }
      print(await api(values.url).get(`/v1/requests/${oneId(positionals)}`));
      return 0;
    }
    case 'approve': {
      const { values, positionals } = parse(rest, { ...url, as: { type: 'string' }, reject: { type: 'boolean' }, 'expires-in': { type: 'string' }, credentials: { type: 'string' } } as const, true);
      if (values.help) { print(REQUESTS_HELP); return 0; }
      const id = oneId(positionals);
      const seconds = values['expires-in'] === undefined ? DEFAULT_APPROVAL_SECONDS : Number(values['expires-in']);
      if (!/^[1-9]\d*$/.test(values['expires-in'] ?? '1') || !Number.isSafeInteger(seconds)) throw usage('--expires-in must be a positive whole number of seconds');
      const { signer } = await identityFor(values.as, values.credentials, 'approver');
      const view = await api(values.url).get(`/v1/requests/${id}`) as { requestId: string; status: string; requestDigest?: string; request?: unknown };
      if (typeof view.requestDigest !== 'string' || !/^[0-9a-f]{64}$/.test(view.requestDigest)) {
        throw new ValidationError(`request ${view.requestId} has no request digest to approve (status ${view.status})`, { code: 'request.not_pending' });
      }
      // Never sign a digest blind: recompute it from the request the coordinator shows, so what is
      // approved is what is displayed (a relay that shows one request and hands the digest of
      // another is caught here, and the nodes check the approval against the request they get).
      const shown = parseSignRequest(view.request, 'request');
      if (signRequestDigest(shown) !== view.requestDigest) throw new ValidationError(`the coordinator's request ${view.requestId} does not hash to the digest it asks you to approve: refusing to sign`, { code: 'approval.digest_mismatch' });
      note(`request ${view.requestId}: key ${shown.keyId}, ${shown.payload.type} payload, intent ${JSON.stringify(shown.intent ?? {})}, initiator ${shown.initiator}`);
      const decision = values.reject ? 'reject' : 'approve';
      const approval = approvalBy(signer, view.requestDigest, decision, new Date(Date.now() + seconds * 1000).toISOString());
      const after = await api(values.url).post(`/v1/requests/${id}/approvals`, approval) as { status?: string };
      note(`${signer.id} ${decision === 'approve' ? 'approved' : 'rejected'} request ${view.requestId} (digest ${view.requestDigest}); it is now ${after.status ?? 'unknown'}`);
      print(after);
      return 0;
    }
    case 'cancel': {
      const { values, positionals } = parse(rest, { ...url, reason: { type: 'string' } } as const, true);
      if (values.help) { print(REQUESTS_HELP); return 0; }
      const id = oneId(positionals);
      print(await api(values.url).post(`/v1/requests/${id}/cancel`, values.reason === undefined ? {} : { reason: values.reason }));
      return 0;
    }
    default: throw usage(`unknown requests subcommand ${JSON.stringify(sub)}; run "custos requests --help"`);
  }
}
