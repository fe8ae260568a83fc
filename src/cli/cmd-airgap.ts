import { ValidationError } from '../common/errors.ts';
import { ApiClient } from './api-client.ts';
import { defaultToken, defaultUrl, parse } from './args.ts';
import { checkWriteOpts, readBundleIn, TRANSPORT_HELP, TRANSPORT_OPTIONS, writeBundleOut } from './bundle-io.ts';
import { note, print, usage } from './commands.ts';

/**
 * `custos airgap`: the online side of the air gap, against the coordinator's API. Export writes
 * the next bundle for an offline node (everything waiting on it: key generation and presigning
 * rounds, sign batches, policy versions), import hands its answer back, simulate measures the
 * crossings of a batch with the real protocol.
 */
export const AIRGAP_HELP = `Usage: custos airgap status|export|import|simulate ...

  custos airgap status                      what waits on each offline node, and the jobs
  custos airgap export --out DIR [--party ID] [--wait SECONDS] [--seq N] [--transport file|qr]
        seals the next bundle for the offline node (waiting up to --wait seconds, default 60,
        until every session that needs it is waiting on it) and writes it; --seq N writes a
        bundle sent earlier again
  custos airgap import (FILE | --qr FRAMES_DIR)
        hands the offline node's answer to the coordinator, which resumes the sessions
  custos airgap simulate --batch N [--transport qr|file] [--json]
        runs key generation, staging and a sign batch of N transactions with an in-process
        offline node and reports crossings, bytes, QR frames and operator minutes under the
        published cost model, against one full protocol run per transaction
  --url URL   the coordinator (default $CUSTOS_URL or http://127.0.0.1:$CUSTOS_PORT)

  ${TRANSPORT_HELP}
  --qr DIR              a directory of captured QR frames (PNG, any order, some may be missing)`;

type Exported = { party: string; seq: number; kind?: string; calls?: number; busy?: number; size: number; sha256: string; bundle: string };

export async function cmdAirgap(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') { print(AIRGAP_HELP); return sub === undefined ? 2 : 0; }
  if (sub === 'simulate') return (await import('./cmd-airgap-simulate.ts')).cmdAirgapSimulate(rest);
  const { values, positionals } = parse(rest, { url: { type: 'string' }, party: { type: 'string' }, wait: { type: 'string' }, seq: { type: 'string' }, qr: { type: 'string' }, ...TRANSPORT_OPTIONS } as const, true);
  if (values.help) { print(AIRGAP_HELP); return 0; }
  if (!['status', 'export', 'import'].includes(sub)) throw usage(`unknown airgap subcommand ${JSON.stringify(sub)}; run "custos airgap --help"`);
  const api = new ApiClient(values.url ?? defaultUrl(), defaultToken());
  switch (sub) {
    case 'status': print(await api.get('/v1/airgap')); return 0;
    case 'export': {
      checkWriteOpts(values);
      const wait = values.wait === undefined ? 60 : Number(values.wait);
      if (!Number.isInteger(wait) || wait < 0 || wait > 600) throw usage('--wait must be 0..600 seconds');
      let b: Exported;
      if (values.seq !== undefined) {
        if (!values.party) throw usage('--seq needs --party ID');
        b = await api.get(`/v1/airgap/bundles/${encodeURIComponent(values.party)}/${encodeURIComponent(values.seq)}`) as Exported;
      } else {
        b = await api.post('/v1/airgap/export', { ...(values.party ? { party: values.party } : {}), waitSeconds: wait }) as Exported;
      }
      const bytes = new Uint8Array(Buffer.from(b.bundle, 'base64'));
      const out = await writeBundleOut(bytes, `custos-coordinator-to-${b.party}-${String(b.seq).padStart(6, '0')}.bundle`, values);
      if (b.busy) note(`${b.busy} session(s) were still busy on the online nodes after --wait ${wait}s: their calls go in the next bundle`);
      note(`bundle ${b.seq} for ${b.party}${b.kind ? ` (${b.kind}, ${b.calls} call(s))` : ''}: carry it to the offline node and run "custos offline import"`);
      print({ party: b.party, seq: b.seq, kind: b.kind, calls: b.calls, busy: b.busy ?? 0, sha256: b.sha256, ...out });
      return 0;
    }
    case 'import': {
      if (positionals.length > 1) throw usage('give one bundle FILE');
      const bytes = readBundleIn(positionals[0], values.qr, note);
      print(await api.post('/v1/airgap/import', { bundle: Buffer.from(bytes).toString('base64') }));
      return 0;
    }
  }
  throw new ValidationError('unreachable', { code: 'cli.usage' });
}
