import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { PNG } from 'pngjs';
import { urPartsFor, type UrProgress } from '../../src/airgap/ur.ts';
import { qrHtmlPage, renderQrPngs, writeQrFrames } from '../../src/airgap/qr-frames.ts';
import { collectFromPngs, readQrPng } from '../../src/airgap/qr-read.ts';
import { seeded, shuffled } from '../support/seeded.ts';

/**
 * Animated QR: parts drawn as PNG by one QR library (qr), read back from the pixels by another
 * (jsQR), with frames lost and repeated. Each frame costs some 10 ms to draw and 15-25 ms to
 * read, so the 60 KB case (386 frames) takes several seconds; the detailed checks use 3 KB.
 */

const code = (c: string) => (e: any) => e.code === c;
const bundle = seeded('qr-bundle').bytes(3000);
const parts = urPartsFor(bundle);

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'custos-qr-'));
}

test('a 3 KB bundle crosses as PNG frames with 30% dropped at random and some repeated', async () => {
  const dir = tempDir();
  try {
    const paths = await writeQrFrames(dir, parts);
    assert.equal(paths.length, 28);
    assert.deepEqual(paths.map((p) => basename(p)), Array.from({ length: 28 }, (_, i) => `frame-${String(i + 1).padStart(4, '0')}.png`));
    assert.deepEqual(readdirSync(dir).sort(), paths.map((p) => basename(p)));

    const r = seeded('qr-drop');
    const kept = shuffled(paths, r.float).slice(Math.round(paths.length * 0.3)); // 20 of 28
    const captured = shuffled([...kept, ...kept.slice(0, 4)], r.float).map((p) => readFileSync(p));
    const seen: UrProgress[] = [];
    const out = collectFromPngs(captured, (p) => seen.push(p));
    assert.deepEqual(out, bundle);
    assert.equal(seen.at(-1)?.done, true);
    assert.equal(seen.at(-1)?.percent, 100);
    assert.ok(seen.every((p, i) => p.needed === 8 && (i === 0 || p.received >= seen[i - 1].received)), 'progress is n of 8 and never goes back');

    // Too few frames: the error says how far it got.
    const few = kept.slice(0, 6).map((p) => readFileSync(p));
    assert.throws(() => collectFromPngs(few), (e: any) => e.code === 'transport.incomplete' && e.detail.frames === 6 && e.detail.needed === 8 && e.detail.received < 8);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a 60 KB bundle: 386 frames, 30% dropped at random, some repeated, read back by jsQR', async () => {
  const big = seeded('qr-60k').bytes(60_000);
  const pngs = await renderQrPngs(urPartsFor(big));
  assert.equal(pngs.length, 151 + 227 + 8);
  const r = seeded('qr-60k-drop');
  const kept = shuffled(pngs, r.float).slice(Math.round(pngs.length * 0.3));
  const captured = shuffled([...kept, ...kept.slice(0, 20)], r.float);
  let last: UrProgress | undefined;
  assert.deepEqual(collectFromPngs(captured, (p) => (last = p)), big);
  assert.deepEqual({ ...last, partsSeen: 0 }, { received: 151, needed: 151, percent: 100, done: true, partsSeen: 0 });
});

test('every frame reads back as exactly its part; blank and broken images are skipped', async () => {
  const pngs = await renderQrPngs(parts.slice(0, 8));
  pngs.forEach((png, i) => assert.equal(readQrPng(png), parts[i]));
  const blank = new PNG({ width: 200, height: 200 });
  blank.data.fill(255);
  const blankPng = PNG.sync.write(blank);
  assert.equal(readQrPng(blankPng), undefined);
  const garbage = Buffer.from('not a png at all');
  assert.throws(() => readQrPng(garbage), code('transport.png_invalid'));
  assert.deepEqual(collectFromPngs([blankPng, ...pngs.slice(0, 4), garbage, ...pngs.slice(4)]), bundle);
});

test('frames of another bundle among the captures stop the collection', async () => {
  const other = urPartsFor(seeded('qr-other').bytes(3000));
  const pngs = await renderQrPngs([parts[0], parts[1], other[2]]);
  assert.throws(() => collectFromPngs(pngs), code('transport.ur_mixed'));
});

test('writeQrFrames refuses a directory that already holds frames', async () => {
  const dir = tempDir();
  try {
    await writeQrFrames(dir, parts.slice(0, 1));
    await assert.rejects(writeQrFrames(dir, parts.slice(0, 1)), code('transport.exists'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('render settings: scale and margin change the image; out-of-range values are refused', async () => {
  const [a] = await renderQrPngs(parts.slice(0, 1), { scale: 2, margin: 4 });
  const [b] = await renderQrPngs(parts.slice(0, 1), { scale: 3, margin: 1 });
  // 3003 bytes in 8 fragments of 376: 809-character parts, version 16 at level L, 81 modules a side.
  assert.equal(parts[0].length, 809);
  assert.equal(PNG.sync.read(a).width, (81 + 2 * 4) * 2);
  assert.equal(PNG.sync.read(b).width, (81 + 2 * 1) * 3);
  assert.equal(readQrPng(b), parts[0]);
  await assert.rejects(renderQrPngs(parts.slice(0, 1), { scale: 0 }), code('transport.invalid'));
  await assert.rejects(renderQrPngs(parts.slice(0, 1), { margin: 0 }), code('transport.invalid'));
  await assert.rejects(renderQrPngs(parts.slice(0, 1), { scale: 20 }), code('transport.invalid')); // over 1024 px
});

test('the HTML page holds the N frames as data: URIs, the frame rate, and nothing external', async () => {
  const pngs = await renderQrPngs(parts.slice(0, 5));
  const html = qrHtmlPage(pngs, { framesPerSecond: 7, title: 'sign batch <42> & co' });
  const uris = [...html.matchAll(/"data:image\/png;base64,([A-Za-z0-9+/=]+)"/g)].map((m) => m[1]);
  assert.equal(uris.length, 5);
  uris.forEach((u, i) => assert.deepEqual(Buffer.from(u, 'base64'), pngs[i]));
  assert.match(html, /data-frames="5"/);
  assert.match(html, /data-fps="7"/);
  assert.match(html, /const fps = 7;/);
  assert.match(html, /setInterval\(show, 1000 \/ fps\)/);
  assert.match(html, /frame <span id="at">1<\/span>\/5/);
  assert.match(html, /<title>sign batch &#60;42&#62; &#38; co<\/title>/);
  assert.doesNotMatch(html, /<42>/);
  const rest = html.replace(/"data:image\/png;base64,[A-Za-z0-9+/=]+"/g, '""');
  assert.doesNotMatch(rest, /https?:|\/\/[a-z]|@import|url\(/i);
  assert.doesNotMatch(rest, /<[^>]*\b(src|href)\s*=/i, 'no element loads anything');
  assert.deepEqual([...rest.matchAll(/\.src\s*=\s*([^;]+);/g)].map((m) => m[1]), ['frames[i]'], 'the script shows only the frames');
  assert.match(html, /Content-Security-Policy" content="default-src 'none'; img-src data:/);
  assert.match(qrHtmlPage(pngs), /data-fps="5"/, 'default 5 frames/s');
  assert.throws(() => qrHtmlPage(pngs, { framesPerSecond: 0 }), code('transport.invalid'));
  assert.throws(() => qrHtmlPage([], {}), code('transport.invalid'));
});
