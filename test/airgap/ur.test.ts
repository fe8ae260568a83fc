import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FountainEncoderPart } from '@ngraveio/bc-ur/dist/fountainEncoder.js';
import bytewordsModule from '@ngraveio/bc-ur/dist/bytewords.js';
import { UrCollector, urPartsFor } from '../../src/airgap/ur.ts';
import { seeded, shuffled } from '../support/seeded.ts';

/** BC-UR parts (BCR-2020-005) for opaque bundle bytes: sizes, loss, duplicates, corruption, mixing. */

const bytewords = bytewordsModule.default;

/** Drops `fraction` of the items at random, repeats a few of the rest, and shuffles. */
function lossy<T>(items: T[], fraction: number, seed: string): T[] {
  const r = seeded(seed);
  const kept = shuffled(items, r.float).slice(Math.round(items.length * fraction));
  const repeats = kept.slice(0, Math.ceil(kept.length / 10));
  return shuffled([...kept, ...repeats], r.float);
}

const code = (c: string) => (e: any) => e.code === c;

function collect(parts: string[]): UrCollector {
  const c = new UrCollector();
  for (const p of parts) c.add(p);
  return c;
}

test('1 B, 3 KB and 60 KB cross as parts; the plain fragments come first and suffice alone', () => {
  // Hand-computed: the CBOR byte-string header adds 2 bytes (size < 24 → 1 byte) or 3 (≥ 256);
  // n = ceil(bytes / 400) fragments; parts = n + ceil(1.5 n) + 8, or 1 for a single fragment.
  const cases = [
    { size: 1, n: 1, parts: 1 },
    { size: 3000, n: 8, parts: 8 + 12 + 8 },
    { size: 60_000, n: 151, parts: 151 + 227 + 8 },
  ];
  for (const { size, n, parts: count } of cases) {
    const bundle = seeded(`bundle-${size}`).bytes(size);
    const parts = urPartsFor(bundle);
    assert.equal(parts.length, count, `${size} B`);
    for (const p of parts) assert.match(p, n === 1 ? /^UR:CUSTOS-BUNDLE\/[A-Z]+$/ : new RegExp(`^UR:CUSTOS-BUNDLE/\\d+-${n}/[A-Z]+$`));
    // Alphanumeric QR mode: digits, uppercase letters and " $%*+-./:" only.
    for (const p of parts) assert.match(p, /^[0-9A-Z $%*+\-./:]+$/);
    assert.deepEqual(collect(parts).result(), bundle);
    const firstN = collect(parts.slice(0, n));
    assert.deepEqual(firstN.progress(), { received: n, needed: n, percent: 100, done: true, partsSeen: n });
    assert.deepEqual(firstN.result(), bundle);
  }
});

test('30% of parts dropped at random and some repeated: 3 KB and 60 KB still complete', () => {
  for (const size of [3000, 60_000]) {
    const bundle = seeded(`loss-${size}`).bytes(size);
    const parts = urPartsFor(bundle);
    const arriving = lossy(parts, 0.3, `drop-${size}`);
    const c = new UrCollector();
    let last = 0;
    for (const p of arriving) {
      c.add(p);
      const { received } = c.progress();
      assert.ok(received >= last, 'progress never goes back');
      last = received;
    }
    assert.equal(c.progress().done, true, `${size} B`);
    assert.deepEqual(c.result(), bundle);
  }
});

test('the extra parts are what makes 30% loss survivable (40 seeds), and without them it fails', () => {
  let withExtra = 0;
  let bare = 0;
  for (let s = 0; s < 40; s++) {
    const bundle = seeded(`seed-${s}`).bytes(3000);
    for (const [parts, bump] of [
      [urPartsFor(bundle), () => withExtra++],
      [urPartsFor(bundle, { extraPartsRatio: 0, extraParts: 0 }), () => bare++],
    ] as const) {
      const c = new UrCollector();
      for (const p of lossy(parts, 0.3, `seed-drop-${s}`)) c.add(p);
      if (c.progress().done) {
        assert.deepEqual(c.result(), bundle);
        bump();
      }
    }
  }
  // Measured failure rate for 8 fragments is about 1% (see DEFAULT_EXTRA_PARTS_RATIO).
  assert.ok(withExtra >= 38, `completed ${withExtra}/40`);
  assert.equal(bare, 0, 'with only the 8 plain fragments, losing 8 of them can never complete');
});

test('fragment size is a setting', () => {
  const bundle = seeded('frag').bytes(3000);
  const parts = urPartsFor(bundle, { fragmentBytes: 100 });
  // 3003 bytes in ≤ 100-byte fragments: 31 of 97 bytes; 31 + ceil(46.5) + 8 parts.
  assert.equal(parts.length, 31 + 47 + 8);
  assert.match(parts[0], /^UR:CUSTOS-BUNDLE\/1-31\//);
  assert.deepEqual(collect(lossy(parts, 0.3, 'frag-drop')).result(), bundle);
  assert.throws(() => urPartsFor(bundle, { fragmentBytes: 5 }), code('transport.invalid'));
  assert.throws(() => urPartsFor(bundle, { fragmentBytes: 5000 }), code('transport.invalid'));
  assert.throws(() => urPartsFor(bundle, { type: 'Custos_Bundle' }), code('transport.invalid'));
  assert.throws(() => urPartsFor(bundle, { extraPartsRatio: -1 }), code('transport.invalid'));
});

test('duplicates are ignored and progress counts fragments recovered of needed', () => {
  const bundle = seeded('dup').bytes(3000);
  const parts = urPartsFor(bundle);
  const c = new UrCollector();
  assert.deepEqual(c.progress(), { received: 0, needed: 0, percent: 0, done: false, partsSeen: 0 });
  c.add(parts[0]);
  c.add(parts[0]);
  c.add(parts[0].toLowerCase());
  assert.deepEqual(c.progress(), { received: 1, needed: 8, percent: 12, done: false, partsSeen: 1 });
  assert.throws(() => c.result(), (e: any) => e.code === 'transport.incomplete' && e.detail.received === 1 && e.detail.needed === 8);
  for (const p of parts.slice(1, 8)) c.add(p);
  assert.equal(c.progress().done, true);
  // Parts of the same message after completion (the page keeps looping) are accepted quietly.
  c.add(parts[20]);
  assert.deepEqual(c.result(), bundle);
});

test('a corrupted part is refused with transport.ur_corrupt and the collection goes on', () => {
  const bundle = seeded('corrupt').bytes(3000);
  const parts = urPartsFor(bundle);
  const c = new UrCollector();
  const body = parts[2].lastIndexOf('/') + 1;
  const at = body + 20;
  // Another valid byteword ("able" → AE, "acid" → AD): decodes, but fails the part's CRC32.
  const swapped = parts[2].slice(0, at) + (parts[2].slice(at, at + 2) === 'AE' ? 'AD' : 'AE') + parts[2].slice(at + 2);
  assert.throws(() => c.add(swapped), (e: any) => e.code === 'transport.ur_corrupt' && /checksum/i.test(e.message));
  // Not a byteword at all.
  assert.throws(() => c.add(parts[2].slice(0, at) + 'QQ' + parts[2].slice(at + 2)), code('transport.ur_corrupt'));
  // A part whose path disagrees with the sequence number inside it.
  assert.throws(() => c.add(parts[2].replace('/3-8/', '/4-8/')), code('transport.ur_corrupt'));
  assert.deepEqual(c.progress().partsSeen, 0, 'refused parts leave no trace');
  for (const p of parts) c.add(p);
  assert.deepEqual(c.result(), bundle);
});

test('a forged part with a valid part checksum is caught by the message CRC32 and kills the collection', () => {
  const bundle = seeded('forged').bytes(3000);
  const parts = urPartsFor(bundle);
  const body = parts[0].slice(parts[0].lastIndexOf('/') + 1).toLowerCase();
  const real = FountainEncoderPart.fromCBOR(bytewords.decode(body, bytewords.STYLES.MINIMAL));
  const fragment = Buffer.from(real.fragment);
  fragment[7] ^= 1;
  const forgedCbor = new FountainEncoderPart(real.seqNum, real.seqLength, real.messageLength, real.checksum, fragment).cbor();
  const forged = `UR:CUSTOS-BUNDLE/1-8/${bytewords.encode(forgedCbor.toString('hex'), bytewords.STYLES.MINIMAL).toUpperCase()}`;
  const c = new UrCollector();
  c.add(forged);
  for (const p of parts.slice(1, 7)) c.add(p);
  assert.throws(() => c.add(parts[7]), code('transport.ur_checksum'));
  assert.throws(() => c.add(parts[8]), code('transport.ur_checksum'));
  assert.throws(() => c.result(), code('transport.ur_checksum'));
});

test('parts of two messages mixed are refused with transport.ur_mixed; other types and non-URs too', () => {
  const a = urPartsFor(seeded('a').bytes(3000));
  const b = urPartsFor(seeded('b').bytes(3000)); // same size: only the CRC32 tells them apart
  const small = urPartsFor(seeded('small').bytes(50));
  assert.equal(small.length, 1);

  const c = new UrCollector();
  c.add(a[0]);
  assert.throws(() => c.add(b[1]), (e: any) => e.code === 'transport.ur_mixed' && /another message/.test(e.message));
  assert.throws(() => c.add(small[0]), code('transport.ur_mixed'));
  assert.throws(() => c.add(urPartsFor(seeded('a').bytes(3000), { type: 'crypto-psbt' })[1]), code('transport.ur_type'));
  assert.throws(() => c.add('hello'), code('transport.ur_invalid'));
  assert.throws(() => c.add('UR:CUSTOS-BUNDLE/0-8/AEAD'), code('transport.ur_invalid'));
  for (const p of a.slice(1)) c.add(p);
  assert.equal(c.progress().done, true);
  assert.throws(() => c.add(b[3]), code('transport.ur_mixed'), 'still refused after completion');

  const single = new UrCollector();
  single.add(small[0]);
  assert.throws(() => single.add(a[0]), code('transport.ur_mixed'));
  assert.throws(() => single.add(urPartsFor(seeded('other').bytes(50))[0]), code('transport.ur_mixed'));
  assert.deepEqual(single.result(), seeded('small').bytes(50));
});

test('a UR of the right type whose message is not a CBOR byte string is refused', () => {
  // "ur:custos-bundle/<body>" for the CBOR unsigned integer 1 (0x01), with its bytewords CRC32.
  const body = bytewords.encode('01', bytewords.STYLES.MINIMAL);
  assert.throws(() => new UrCollector().add(`ur:custos-bundle/${body}`), code('transport.ur_payload'));
});
