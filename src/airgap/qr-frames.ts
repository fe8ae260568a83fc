import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeQR, type ErrorCorrection } from 'qr';
import { PNG } from 'pngjs';
import { CustosError, ValidationError } from '../common/errors.ts';

/**
 * UR parts as QR code images: one PNG per part, and one self-contained HTML page that loops
 * them at a chosen rate for a phone or webcam on the other side of the air gap. QR encoding is
 * the `qr` library's; PNG encoding is pngjs's.
 */

export const DEFAULT_FRAMES_PER_SECOND = 5;
/** Pixels per QR module: a 400-byte part (version 17 at level L, 85 modules) becomes 372 px. */
export const DEFAULT_SCALE = 4;
/** Quiet zone in modules; ISO/IEC 18004 asks for 4. */
export const DEFAULT_MARGIN = 4;

export type QrRenderOpts = {
  scale?: number;
  margin?: number;
  /** QR error correction; 'low' by default: the fountain code covers lost frames, and a smaller symbol reads more easily. */
  ecc?: ErrorCorrection;
};

export type QrPageOpts = { framesPerSecond?: number; title?: string };

export const FRAME_FILE_RE = /^frame-\d{4,}\.png$/;

/** One PNG (8-bit grayscale) per part, in order. */
export async function renderQrPngs(parts: string[], opts: QrRenderOpts = {}): Promise<Buffer[]> {
  const { scale, margin, ecc } = renderOpts(opts);
  const out: Buffer[] = [];
  for (const part of parts) {
    if (typeof part !== 'string' || part.length === 0) throw new ValidationError('a QR part must be a non-empty string', { code: 'transport.invalid' });
    out.push(renderOne(part, scale, margin, ecc));
    // A long bundle renders hundreds of frames: let the event loop breathe between them.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return out;
}

/**
 * Writes frame-0001.png … into `dir` (created if needed) and returns their paths in order.
 * Refuses a directory that already holds frames, so that frames of an older bundle can never be
 * read together with the new ones.
 */
export async function writeQrFrames(dir: string, parts: string[], opts: QrRenderOpts = {}): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const stale = readdirSync(dir).filter((f) => FRAME_FILE_RE.test(f));
  if (stale.length > 0) {
    throw new CustosError('transport.exists', `${dir} already holds ${stale.length} QR frame(s); use an empty directory`, { status: 409, detail: { dir } });
  }
  const pngs = await renderQrPngs(parts, opts);
  const width = Math.max(4, String(pngs.length).length);
  const paths: string[] = [];
  pngs.forEach((png, i) => {
    const path = join(dir, `frame-${String(i + 1).padStart(width, '0')}.png`);
    // flush: the directory is usually on removable media that is pulled out right after.
    writeFileSync(path, png, { flag: 'wx', flush: true });
    paths.push(path);
  });
  return paths;
}

/**
 * One HTML file that shows the frames in a loop at `framesPerSecond` (default 5) with "frame
 * n/N" under them; click or space pauses. Frames are data: URIs and the page's Content Security
 * Policy forbids loading anything else, so it works from removable media on an offline machine.
 */
export function qrHtmlPage(pngs: Buffer[], opts: QrPageOpts = {}): string {
  const fps = opts.framesPerSecond ?? DEFAULT_FRAMES_PER_SECOND;
  if (!Number.isFinite(fps) || fps <= 0 || fps > 60) throw new ValidationError('framesPerSecond must be in (0, 60]', { code: 'transport.invalid' });
  if (pngs.length === 0) throw new ValidationError('no frames to show', { code: 'transport.invalid' });
  const title = opts.title ?? 'custos bundle';
  const frames = pngs.map((png) => `"data:image/png;base64,${Buffer.from(png).toString('base64')}"`).join(',\n');
  const n = pngs.length;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{margin:0;background:#fff;color:#111;font:16px system-ui,sans-serif;text-align:center}
img{display:block;margin:2vh auto 1vh;width:min(92vw,86vh);height:auto;image-rendering:pixelated}
</style>
</head>
<body data-frames="${n}" data-fps="${fps}">
<img id="qr" alt="animated QR code">
<p><strong>${escapeHtml(title)}</strong> · frame <span id="at">1</span>/${n} · ${fps} frames/s · <span id="state">playing</span> (click or space to pause)</p>
<script>
"use strict";
const frames = [
${frames}
];
const fps = ${fps};
const img = document.getElementById("qr"), at = document.getElementById("at"), state = document.getElementById("state");
let i = 0, timer = 0;
function show() { img.src = frames[i]; at.textContent = String(i + 1); i = (i + 1) % frames.length; }
function play() { show(); timer = setInterval(show, 1000 / fps); state.textContent = "playing"; }
function pause() { clearInterval(timer); timer = 0; state.textContent = "paused"; }
function toggle() { if (timer) pause(); else play(); }
document.addEventListener("click", toggle);
document.addEventListener("keydown", (e) => { if (e.key === " ") { e.preventDefault(); toggle(); } });
play();
</script>
</body>
</html>
`;
}

function renderOne(part: string, scale: number, margin: number, ecc: ErrorCorrection): Buffer {
  // true = dark module; the library applies the quiet zone and the scale.
  let pixels: boolean[][];
  try {
    pixels = encodeQR(part, 'raw', { ecc, border: margin, scale });
  } catch (e) {
    // Capacity overflow, or an image over the library's 1024 px limit.
    throw new ValidationError(`cannot draw a ${part.length}-character part as a QR code (${e instanceof Error ? e.message.slice(0, 80) : 'invalid'}): use smaller fragments or scale`, { code: 'transport.invalid' });
  }
  const side = pixels.length;
  const png = new PNG({ width: side, height: side });
  for (let y = 0; y < side; y++) {
    const row = pixels[y];
    for (let x = 0; x < side; x++) {
      const o = (y * side + x) * 4;
      const v = row[x] ? 0 : 255;
      png.data[o] = v;
      png.data[o + 1] = v;
      png.data[o + 2] = v;
      png.data[o + 3] = 255;
    }
  }
  return PNG.sync.write(png, { colorType: 0 });
}

function renderOpts(opts: QrRenderOpts): { scale: number; margin: number; ecc: ErrorCorrection } {
  const scale = opts.scale ?? DEFAULT_SCALE;
  const margin = opts.margin ?? DEFAULT_MARGIN;
  const ecc = opts.ecc ?? 'low';
  if (!Number.isSafeInteger(scale) || scale < 1 || scale > 32) throw new ValidationError('scale must be an integer from 1 to 32', { code: 'transport.invalid' });
  if (!Number.isSafeInteger(margin) || margin < 1 || margin > 16) throw new ValidationError('margin must be an integer from 1 to 16', { code: 'transport.invalid' });
  if (!['low', 'medium', 'quartile', 'high'].includes(ecc)) throw new ValidationError('ecc must be low, medium, quartile or high', { code: 'transport.invalid' });
  return { scale, margin, ecc };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
