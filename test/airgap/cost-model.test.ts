import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crossingCost } from '../../src/airgap/cost-model.ts';

/** The published crossing cost model, against hand-computed figures. */

const code = (c: string) => (e: any) => e.code === c;

test('QR: one frame per 400 bytes at 5 frames/s, plus 60 s handling', () => {
  assert.deepEqual(crossingCost(0, 'qr'), { frames: 1, seconds: 60.2 });
  assert.deepEqual(crossingCost(1, 'qr'), { frames: 1, seconds: 60.2 });
  assert.deepEqual(crossingCost(400, 'qr'), { frames: 1, seconds: 60.2 });
  assert.deepEqual(crossingCost(401, 'qr'), { frames: 2, seconds: 60.4 });
  assert.deepEqual(crossingCost(3000, 'qr'), { frames: 8, seconds: 61.6 }); // ceil(7.5) = 8 → 1.6 s
  assert.deepEqual(crossingCost(60_000, 'qr'), { frames: 150, seconds: 90 }); // 150 / 5 = 30 s
  assert.deepEqual(crossingCost(1_000_000, 'qr'), { frames: 2500, seconds: 560 }); // 500 s + 60
});

test('file: 3 minutes per crossing whatever the size', () => {
  assert.deepEqual(crossingCost(1, 'file'), { frames: 0, seconds: 180 });
  assert.deepEqual(crossingCost(1_000_000_000, 'file'), { frames: 0, seconds: 180 });
});

test('settings change the figures; nonsense is refused', () => {
  assert.deepEqual(crossingCost(60_000, 'qr', { framesPerSecond: 10 }), { frames: 150, seconds: 75 });
  assert.deepEqual(crossingCost(60_000, 'qr', { fragmentBytes: 200, handlingSeconds: 0 }), { frames: 300, seconds: 60 });
  assert.deepEqual(crossingCost(5, 'file', { fileSeconds: 300 }), { frames: 0, seconds: 300 });
  assert.throws(() => crossingCost(-1, 'qr'), code('transport.invalid'));
  assert.throws(() => crossingCost(1.5, 'qr'), code('transport.invalid'));
  assert.throws(() => crossingCost(1, 'qr', { framesPerSecond: 0 }), code('transport.invalid'));
  assert.throws(() => crossingCost(1, 'carrier-pigeon' as any), code('transport.invalid'));
});
