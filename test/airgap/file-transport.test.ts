import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBundleFile, writeBundleFile } from '../../src/airgap/file-transport.ts';

/** Bundles as files with a sha256sum sidecar: round trip, damage, absence, names. */

const code = (c: string) => (e: any) => e.code === c;
const bytes = new Uint8Array(5000).map((_, i) => (i * 31 + 7) & 0xff);

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'custos-file-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a bundle file round-trips; its sidecar is a sha256sum line, checked independently', () => {
  withDir((dir) => {
    const path = writeBundleFile(join(dir, 'usb', 'out'), 'sign-000042.cbor', bytes);
    assert.equal(path, join(dir, 'usb', 'out', 'sign-000042.cbor'));
    assert.deepEqual(readBundleFile(path), bytes);
    const expected = createHash('sha256').update(bytes).digest('hex');
    assert.equal(readFileSync(path + '.sha256', 'utf8'), `${expected}  sign-000042.cbor\n`);
    assert.deepEqual(readdirSync(join(dir, 'usb', 'out')).sort(), ['sign-000042.cbor', 'sign-000042.cbor.sha256'], 'no temporary files left');
  });
});

test('a damaged or truncated file is refused with transport.checksum', () => {
  withDir((dir) => {
    const path = writeBundleFile(dir, 'b.cbor', bytes);
    const damaged = readFileSync(path);
    damaged[1234] ^= 0x20;
    writeFileSync(path, damaged);
    assert.throws(() => readBundleFile(path), (e: any) => e.code === 'transport.checksum' && e.detail.expected !== e.detail.actual && /damaged/.test(e.message));

    const p2 = writeBundleFile(dir, 'c.cbor', bytes);
    truncateSync(p2, 4096);
    assert.throws(() => readBundleFile(p2), code('transport.checksum'));
  });
});

test('a checksum file that is malformed or names another file is refused with transport.checksum', () => {
  withDir((dir) => {
    const a = writeBundleFile(dir, 'a.cbor', bytes);
    const b = writeBundleFile(dir, 'b.cbor', bytes);
    writeFileSync(b + '.sha256', readFileSync(a + '.sha256')); // right hash, wrong name
    assert.throws(() => readBundleFile(b), (e: any) => e.code === 'transport.checksum' && /"a\.cbor"/.test(e.message));
    writeFileSync(a + '.sha256', 'not a checksum\n');
    assert.throws(() => readBundleFile(a), code('transport.checksum'));
  });
});

test('a missing bundle or a missing checksum is refused with transport.missing', () => {
  withDir((dir) => {
    assert.throws(() => readBundleFile(join(dir, 'nothing.cbor')), (e: any) => e.code === 'transport.missing' && /bundle file/.test(e.message));
    const path = writeBundleFile(dir, 'b.cbor', bytes);
    unlinkSync(path + '.sha256');
    assert.throws(() => readBundleFile(path), (e: any) => e.code === 'transport.missing' && /checksum file/.test(e.message));
  });
});

test('names are plain file names, and an existing bundle is kept unless overwrite is asked', () => {
  withDir((dir) => {
    for (const bad of ['../x.cbor', 'a/b.cbor', '.hidden', '', 'x.sha256', 'x.tmp', 'a b']) {
      assert.throws(() => writeBundleFile(dir, bad, bytes), code('transport.name'), bad);
    }
    const path = writeBundleFile(dir, 'b.cbor', bytes);
    assert.throws(() => writeBundleFile(dir, 'b.cbor', new Uint8Array([1])), code('transport.exists'));
    assert.deepEqual(readBundleFile(path), bytes);
    writeBundleFile(dir, 'b.cbor', new Uint8Array([1]), { overwrite: true });
    assert.deepEqual(readBundleFile(path), new Uint8Array([1]));
  });
});
