import { ValidationError } from '../common/errors.ts';
import { COST_MODEL, type Transport } from '../airgap/cost-model.ts';
import { parse } from './args.ts';
import { costOf, simulate, type SimulationResult } from './airgap-simulator.ts';
import { note, print } from './commands.ts';

/**
 * `custos airgap simulate`: figures for people (a table) or, with --json, one JSON object per
 * figure. Transports: the sign batch crosses by --transport (default qr: sign batches are small),
 * staging by --staging-transport (default file: presigning moves tens of KB per presignature).
 */
export const SIMULATE_HELP = `Usage: custos airgap simulate --batch N [--transport qr|file] [--staging-transport file|qr] [--baseline-sample K] [--json]

Runs the real protocol in this process (two online nodes, the offline node, the coordinator;
software keys) for a cold 2-of-3 ECDSA key: key generation, staging N presignatures, and a sign
batch of N Ethereum transactions, carrying every bundle through the same code as custos offline.
Reports round trips, crossings, bytes, QR frames and operator minutes under the published cost
model (QR: ${COST_MODEL.fragmentBytes}-byte fragments at ${COST_MODEL.framesPerSecond} frames/s plus ${COST_MODEL.handlingSeconds} s per crossing; file: ${COST_MODEL.fileSeconds / 60} minutes per crossing), and
the same for the baseline: one full protocol run per transaction, every round crossing the gap
(measured on K transactions, default 3, and scaled to N). --json prints one JSON object per figure.`;

function transportOf(v: string | undefined, dflt: Transport, flag: string): Transport {
  const t = v ?? dflt;
  if (t !== 'qr' && t !== 'file') throw new ValidationError(`${flag} must be qr or file`, { code: 'cli.usage' });
  return t;
}

export async function cmdAirgapSimulate(argv: string[]): Promise<number> {
  const { values } = parse(argv, { batch: { type: 'string' }, transport: { type: 'string' }, 'staging-transport': { type: 'string' }, 'baseline-sample': { type: 'string' }, json: { type: 'boolean' } } as const);
  if (values.help) { print(SIMULATE_HELP); return 0; }
  const batch = Number(values.batch);
  if (!Number.isInteger(batch) || batch < 1 || batch > 10_000) throw new ValidationError('--batch N is required, 1..10000', { code: 'cli.usage' });
  const sample = values['baseline-sample'] === undefined ? 3 : Number(values['baseline-sample']);
  if (!Number.isInteger(sample) || sample < 1 || sample > 100) throw new ValidationError('--baseline-sample must be 1..100', { code: 'cli.usage' });
  const transport = transportOf(values.transport, 'qr', '--transport');
  const stagingTransport = transportOf(values['staging-transport'], 'file', '--staging-transport');
  const r = await simulate({ batch, baselineSample: sample, log: values.json ? undefined : note });
  const figures = figuresOf(r, transport, stagingTransport);
  if (values.json) {
    for (const f of figures) process.stdout.write(JSON.stringify(f) + '\n');
    return 0;
  }
  const rows = figures.filter((f): f is Row => !('reductionPercent' in f));
  const head = ['phase', 'transport', 'round trips', 'crossings', 'bytes', 'QR frames', 'minutes', 's per tx'];
  const lines = [head, ...rows.map((f) => [f.label, f.transport, String(f.roundTrips), String(f.crossings), String(f.bytes), f.transport === 'qr' ? String(f.frames) : '-', f.minutes.toFixed(2), f.perTxSeconds === null ? '-' : f.perTxSeconds.toFixed(2)])];
  const widths = head.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  process.stdout.write(lines.map((l) => l.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n') + '\n\n');
  for (const f of figures) {
    if (!('reductionPercent' in f)) continue;
    const change = f.reductionPercent >= 0 ? `${f.reductionPercent.toFixed(2)} % less` : `${(-f.reductionPercent).toFixed(2)} % more`;
    process.stdout.write(`${f.label}: ${f.batchedSecondsPerTx.toFixed(2)} s per transaction against ${f.baselineSecondsPerTx.toFixed(2)} s, ${change}\n`);
  }
  process.stdout.write(`${r.verified} of ${batch} signatures verified; baseline measured on ${r.baseline.sample} transaction(s) (${r.baseline.perTx.roundTrips} round trips each)\n`);
  return 0;
}

type Row = { figure: string; label: string; batch: number; transport: Transport; roundTrips: number; crossings: number; bytes: number; frames: number; minutes: number; perTxSeconds: number | null };
type Reduction = { figure: 'overhead_reduction'; label: string; batch: number; transport: Transport; batchedSecondsPerTx: number; baselineSecondsPerTx: number; reductionPercent: number };

export function figuresOf(r: SimulationResult, transport: Transport, stagingTransport: Transport): (Row | Reduction)[] {
  const n = r.batch;
  const row = (figure: string, label: string, t: Transport, c: ReturnType<typeof costOf>, perTx: boolean): Row => ({ figure, label, batch: n, transport: t, ...c, perTxSeconds: perTx ? Math.round((c.minutes * 60 / n) * 100) / 100 : null });
  const dkg = costOf(r.dkg, stagingTransport);
  const staging = costOf(r.staging, stagingTransport);
  const sign = costOf(r.sign, transport);
  const all = { roundTrips: staging.roundTrips + sign.roundTrips, crossings: staging.crossings + sign.crossings, bytes: staging.bytes + sign.bytes, frames: staging.frames + sign.frames, minutes: Math.round((staging.minutes + sign.minutes) * 100) / 100 };
  const baseline = costOf(r.baseline.perTx, transport, n);
  const reduction = (label: string, batched: number): Reduction => {
    const base = baseline.minutes * 60 / n;
    const b = batched * 60 / n;
    return { figure: 'overhead_reduction', label, batch: n, transport, batchedSecondsPerTx: Math.round(b * 100) / 100, baselineSecondsPerTx: Math.round(base * 100) / 100, reductionPercent: Math.round((1 - b / base) * 10_000) / 100 };
  };
  return [
    row('key_generation', 'key generation (once)', stagingTransport, dkg, false),
    row('staging', `staging ${n} presignatures`, stagingTransport, staging, true),
    row('sign_batch', `sign batch of ${n}`, transport, sign, true),
    { ...row('batched_total', `staging + sign batch`, transport, all, true), transport: stagingTransport === transport ? transport : (`${stagingTransport}+${transport}` as Transport) },
    row('baseline', `baseline: ${n} full runs`, transport, baseline, true),
    reduction('sign batch (staged ahead of time)', sign.minutes),
    reduction('staging + sign batch, all in', all.minutes),
  ];
}
