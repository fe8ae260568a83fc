import { ValidationError } from '../common/errors.ts';

/**
 * The published crossing cost model: what it costs to carry `bytes` over the air gap once.
 *
 * - QR: the bundle cut into 400-byte fragments, one frame per fragment, shown at 5 frames/s,
 *   plus 60 s of handling per crossing (open the page, aim the camera, confirm).
 *   frames = max(1, ceil(bytes / fragmentBytes)), seconds = frames / framesPerSecond + 60.
 * - File: 3 minutes per crossing whatever the size (write, eject, walk, mount, import).
 *
 * The model counts the frames a reader must see when it misses none: the first frames of a
 * urPartsFor sequence are the plain fragments. It leaves out the few bytes of UR/CBOR framing
 * and the extra fountain parts urPartsFor adds so a reader that misses frames still finishes in
 * one pass (see DEFAULT_EXTRA_PARTS_RATIO in ur.ts).
 */
export type Transport = 'qr' | 'file';

export type CrossingCostOpts = {
  fragmentBytes?: number;
  framesPerSecond?: number;
  /** Fixed time per QR crossing, in seconds. */
  handlingSeconds?: number;
  /** Time per file crossing, in seconds. */
  fileSeconds?: number;
};

export type CrossingCost = { frames: number; seconds: number };

export const COST_MODEL = {
  fragmentBytes: 400,
  framesPerSecond: 5,
  handlingSeconds: 60,
  fileSeconds: 180,
} as const;

export function crossingCost(bytes: number, transport: Transport, opts: CrossingCostOpts = {}): CrossingCost {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new ValidationError('bytes must be a non-negative integer', { code: 'transport.invalid' });
  const fragmentBytes = positive(opts.fragmentBytes ?? COST_MODEL.fragmentBytes, 'fragmentBytes');
  const fps = positive(opts.framesPerSecond ?? COST_MODEL.framesPerSecond, 'framesPerSecond');
  const handling = nonNegative(opts.handlingSeconds ?? COST_MODEL.handlingSeconds, 'handlingSeconds');
  const fileSeconds = nonNegative(opts.fileSeconds ?? COST_MODEL.fileSeconds, 'fileSeconds');
  if (transport === 'file') return { frames: 0, seconds: fileSeconds };
  if (transport !== 'qr') throw new ValidationError(`unknown transport ${JSON.stringify(transport)}`, { code: 'transport.invalid' });
  const frames = Math.max(1, Math.ceil(bytes / fragmentBytes));
  // Rounded to the millisecond so that published figures compare exactly.
  return { frames, seconds: Math.round((frames / fps + handling) * 1000) / 1000 };
}

function positive(x: number, what: string): number {
  if (!Number.isFinite(x) || x <= 0) throw new ValidationError(`${what} must be a positive number`, { code: 'transport.invalid' });
  return x;
}

function nonNegative(x: number, what: string): number {
  if (!Number.isFinite(x) || x < 0) throw new ValidationError(`${what} must be a non-negative number`, { code: 'transport.invalid' });
  return x;
}
