import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../common/bytes.ts';
import { CustosError, ValidationError } from '../common/errors.ts';

/**
 * A bundle as a file on removable media, next to a SHA-256 sidecar in `sha256sum` format
 * (`<hex>  <name>`), so an operator can also check it by hand with `sha256sum -c`. The checksum
 * catches a damaged stick or a half-copied file; authenticity is the bundle's own signature
 * (src/wire/bundle.ts), checked after the crossing.
 */

export const CHECKSUM_SUFFIX = '.sha256';
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const SIDECAR_RE = /^([0-9a-f]{64}) [ *](.+)$/;

/**
 * Writes `dir/name` and `dir/name.sha256` (bundle first, so a reader never sees a checksum
 * without its file) and returns the bundle's path. Each file is written to a temporary name,
 * flushed and renamed, so a stick pulled out early leaves no half file under the real name.
 * Refuses to replace an existing bundle unless `overwrite` is set.
 */
export function writeBundleFile(dir: string, name: string, bytes: Uint8Array, opts: { overwrite?: boolean } = {}): string {
  if (typeof name !== 'string' || !NAME_RE.test(name) || name.endsWith(CHECKSUM_SUFFIX) || name.endsWith('.tmp')) {
    throw new ValidationError('bundle file name must be 1-200 letters, digits, dots, hyphens or underscores, not ending in .sha256 or .tmp', { code: 'transport.name' });
  }
  if (!(bytes instanceof Uint8Array)) throw new ValidationError('bundle must be bytes', { code: 'transport.invalid' });
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  if (!opts.overwrite && (existsSync(path) || existsSync(path + CHECKSUM_SUFFIX))) {
    throw new CustosError('transport.exists', `${path} already exists`, { status: 409, detail: { path } });
  }
  const sum = toHex(sha256(bytes));
  writeDurably(path, bytes);
  writeDurably(path + CHECKSUM_SUFFIX, Buffer.from(`${sum}  ${name}\n`, 'utf8'));
  syncDir(dir);
  return path;
}

/**
 * Reads a bundle written by writeBundleFile. Throws `transport.missing` when the file or its
 * checksum is absent, and `transport.checksum` when the checksum file is malformed, names
 * another file, or does not match the bytes.
 */
export function readBundleFile(path: string): Uint8Array {
  const bytes = readOrMissing(path, 'bundle file');
  const sidecar = readOrMissing(path + CHECKSUM_SUFFIX, 'checksum file').toString('utf8');
  const m = SIDECAR_RE.exec(sidecar.split('\n')[0].replace(/\r$/, ''));
  if (!m) throw checksumError(`${path}${CHECKSUM_SUFFIX} is not a sha256sum line`, { path });
  if (m[2] !== basename(path)) throw checksumError(`${path}${CHECKSUM_SUFFIX} is the checksum of ${JSON.stringify(m[2])}, not of ${JSON.stringify(basename(path))}`, { path });
  const actual = toHex(sha256(bytes));
  if (actual !== m[1]) {
    throw checksumError(`${path} does not match its SHA-256 checksum: the file is damaged or incomplete; copy it again`, { path, expected: m[1], actual });
  }
  return new Uint8Array(bytes);
}

function readOrMissing(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CustosError('transport.missing', `${what} ${path} does not exist`, { status: 404, detail: { path } });
    }
    const errno = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new CustosError('transport.unreadable', `${what} ${path} cannot be read (${errno})`, { status: 500, detail: { path, errno } });
  }
}

function checksumError(message: string, detail: Record<string, string>): CustosError {
  return new CustosError('transport.checksum', message, { status: 422, detail });
}

function writeDurably(path: string, data: Uint8Array): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data, { flush: true });
  renameSync(tmp, path);
}

function syncDir(dir: string): void {
  // Makes the renames durable; some file systems (FAT on sticks, among others) refuse a
  // directory fsync, and the flushed files are the part that matters there.
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}
