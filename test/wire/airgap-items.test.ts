import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packHex, parseAnswer, parseCall, unpackHex } from '../../src/wire/airgap-items.ts';
import { decodeCbor, encodeCbor, type CborValue } from '../../src/wire/bundle-cbor.ts';

test('hex strings cross as bytes and come back exactly; everything else is untouched', () => {
  const x = {
    id: '6f1c2a7e-0000-4000-8000-000000000001', hex: 'deadbeef00', upper: 'DEADBEEF', odd: 'abc', empty: '', digits: '100000000000000000',
    nested: [{ k: 'ab', n: 7, t: true, z: null }], path: '/v1/sign/ecdsa',
  };
  const packed = packHex(x) as Record<string, unknown>;
  assert.ok(packed.hex instanceof Uint8Array && (packed.hex as Uint8Array).length === 5);
  assert.equal(packed.upper, 'DEADBEEF');
  assert.equal(packed.odd, 'abc');
  assert.equal(packed.empty, '');
  assert.equal(packed.id, x.id);
  const back = unpackHex(decodeCbor(encodeCbor(packed as CborValue)));
  assert.deepEqual(back, x);
  // Half the size for hex-heavy payloads.
  const heavy = { m: 'ab'.repeat(10_000) };
  assert.ok(encodeCbor(packHex(heavy) as CborValue).length < encodeCbor(heavy).length / 1.9);
});

test('calls and answers are checked field by field, naming the item', () => {
  assert.deepEqual(parseCall({ id: 'c1', method: 'POST', path: '/v1/sign/ecdsa', body: { a: 1 } }, 0), { id: 'c1', method: 'POST', path: '/v1/sign/ecdsa', body: { a: 1 } });
  assert.throws(() => parseCall({ id: 'c1', method: 'PUT', path: '/v1/x' }, 3), (e: Error & { code?: string }) => e.code === 'bundle.bad_item' && /item 3: method/.test(e.message));
  assert.throws(() => parseCall({ id: 'c1', method: 'GET', path: '/v1/x', body: {} }, 0), /a GET carries no body/);
  assert.throws(() => parseCall({ id: 'c1', method: 'GET', path: 'http://evil/v1/x' }, 0), /path must be a \/v1\/ path/);
  assert.throws(() => parseCall({ id: 'c1', method: 'GET', path: '/v1/x', extra: 1 }, 0), /unknown field\(s\) extra/);
  assert.deepEqual(parseAnswer({ id: 'c1', status: 200, body: { ok: true } }, 0), { id: 'c1', status: 200, body: { ok: true } });
  assert.throws(() => parseAnswer({ id: 'c1', status: 42, body: null }, 1), /answer item 1: status/);
});
