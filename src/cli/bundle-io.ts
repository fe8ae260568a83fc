import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ValidationError } from '../common/errors.ts';
import { readBundleFile, writeBundleFile } from '../airgap/file-transport.ts';
import { DEFAULT_FRAMES_PER_SECOND, qrHtmlPage, writeQrFrames } from '../airgap/qr-frames.ts';
import { collectFromPngs } from '../airgap/qr-read.ts';
import { DEFAULT_FRAGMENT_BYTES, urPartsFor } from '../airgap/ur.ts';

/**
 * How the CLI carries a bundle across the gap: a file with its checksum, or animated QR (PNG
 * frames plus a self-contained HTML page that loops them), and back from a file or a directory
 * of captured frames. Shared by `custos airgap` (online side) and `custos offline`.
 */
export const TRANSPORT_OPTIONS = {
  out: { type: 'string' }, transport: { type: 'string' }, fragment: { type: 'string' }, fps: { type: 'string' },
} as const;
export const TRANSPORT_HELP = `--out DIR             where to write (a file and its .sha256, or QR frames and index.html)
  --transport file|qr   file (default) or animated QR
  --fragment BYTES      QR fragment size (default ${DEFAULT_FRAGMENT_BYTES}; what a phone or webcam reads reliably)
  --fps N               QR frames per second of the HTML page (default ${DEFAULT_FRAMES_PER_SECOND})`;

export type WriteOpts = { out?: string; transport?: string; fragment?: string; fps?: string };

function positiveInt(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ValidationError(`${name} must be a positive integer`, { code: 'cli.usage' });
  return n;
}

/** Checks the output flags before anything is exported or imported, so a typo costs nothing. */
export function checkWriteOpts(o: WriteOpts): { out: string; transport: 'file' | 'qr'; fragmentBytes: number; fps: number } {
  if (!o.out) throw new ValidationError('--out DIR is required', { code: 'cli.usage' });
  const transport = o.transport ?? 'file';
  if (transport !== 'file' && transport !== 'qr') throw new ValidationError('--transport must be file or qr', { code: 'cli.usage' });
  return { out: o.out, transport, fragmentBytes: positiveInt(o.fragment, '--fragment', DEFAULT_FRAGMENT_BYTES), fps: positiveInt(o.fps, '--fps', DEFAULT_FRAMES_PER_SECOND) };
}

export async function writeBundleOut(bytes: Uint8Array, name: string, o: WriteOpts): Promise<Record<string, unknown>> {
  const { out, transport, fragmentBytes, fps } = checkWriteOpts(o);
  if (transport === 'file') return { transport, path: writeBundleFile(out, name, bytes), bytes: bytes.length };
  const parts = urPartsFor(bytes, { fragmentBytes });
  const dir = join(out, name);
  const frames = await writeQrFrames(dir, parts);
  const page = join(dir, 'index.html');
  writeFileSync(page, qrHtmlPage(frames.map((f) => readFileSync(f)), { framesPerSecond: fps, title: name }), { flag: 'wx' });
  return { transport, dir, frames: frames.length, page, bytes: bytes.length, seconds: Math.ceil(frames.length / fps) };
}

/** A bundle from `file`, or from the captured QR frames (PNG) in `qrDir`, with progress on stderr. */
export function readBundleIn(file: string | undefined, qrDir: string | undefined, progress: (s: string) => void): Uint8Array {
  if ((file === undefined) === (qrDir === undefined)) throw new ValidationError('give a bundle FILE or --qr DIR (captured frames), not both', { code: 'cli.usage' });
  if (file !== undefined) return readBundleFile(file);
  const names = readdirSync(qrDir!).filter((f) => /\.png$/i.test(f)).sort();
  if (names.length === 0) throw new ValidationError(`no PNG frames in ${qrDir}`, { code: 'transport.incomplete' });
  let last = -1;
  return collectFromPngs(names.map((n) => readFileSync(join(qrDir!, n))), (p) => {
    if (p.percent >= last + 10 || p.done) { last = p.percent; progress(`QR: ${p.received} of ${p.needed} parts (${p.percent}%)`); }
  });
}

