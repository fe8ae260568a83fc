import jsqrModule from 'jsqr';
import { PNG } from 'pngjs';
import { CustosError, isCustosError } from '../common/errors.ts';
import { UrCollector, type UrProgress } from './ur.ts';

/**
 * QR images back to UR parts: pngjs decodes the pixels, jsQR finds and reads the code (a
 * different implementation from the one that drew it, so the two check each other).
 */

// jsqr is CommonJS: Node hands over module.exports, whose `default` is the function.
const jsQR = jsqrModule.default;

/** The text of the QR code in `png`, or undefined when no code can be read. */
export function readQrPng(png: Buffer): string | undefined {
  let image: PNG;
  try {
    image = PNG.sync.read(png);
  } catch (e) {
    throw new CustosError('transport.png_invalid', `not a readable PNG image (${e instanceof Error ? e.message.slice(0, 80) : 'invalid'})`, { status: 400 });
  }
  const pixels = new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  const code = jsQR(pixels, image.width, image.height, { inversionAttempts: 'attemptBoth' });
  return code && code.data.length > 0 ? code.data : undefined;
}

export type CollectOpts = { type?: string };

/**
 * Reassembles a bundle from captured frames in any order, with some missing or repeated.
 * Frames without a readable code, broken images and parts that fail their own checksum are
 * skipped (a camera produces those); frames of another message or UR type stop the collection.
 * Stops decoding images once the bundle is whole. Throws `transport.incomplete` (with the
 * counts) when the frames are not enough.
 */
export function collectFromPngs(pngs: Buffer[], onProgress?: (p: UrProgress) => void, opts: CollectOpts = {}): Uint8Array {
  const collector = new UrCollector({ type: opts.type });
  let unreadable = 0;
  let corrupt = 0;
  for (const png of pngs) {
    let text: string | undefined;
    try {
      text = readQrPng(png);
    } catch (e) {
      if (!isCustosError(e) || e.code !== 'transport.png_invalid') throw e;
    }
    if (text === undefined) {
      unreadable++;
      continue;
    }
    try {
      collector.add(text);
    } catch (e) {
      if (!isCustosError(e) || e.code !== 'transport.ur_corrupt') throw e;
      corrupt++;
      continue;
    }
    const p = collector.progress();
    onProgress?.(p);
    if (p.done) return collector.result();
  }
  const p = collector.progress();
  throw new CustosError('transport.incomplete', `the ${pngs.length} frames are not enough: ${p.received} of ${p.needed || '?'} fragments recovered`, {
    status: 409,
    detail: { frames: pngs.length, unreadable, corrupt, received: p.received, needed: p.needed, partsSeen: p.partsSeen },
  });
}
