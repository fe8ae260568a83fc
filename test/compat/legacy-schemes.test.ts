import assert from 'node:assert/strict';
import { test } from 'node:test';
import { digestSignBody, ecdsaSignResult, ed25519SignResult, messageSignBody } from '../../src/compat/legacy-schemes.ts';
import * as S from '../../src/coordinator/schemas.ts';

/**
 * The legacy door is the single-key baseline of the coordinator's sign route: it takes the bare
 * payload (the coordinator takes it inside an initiator-signed request) and answers like the
 * coordinator, narrowed to one key. These checks keep its payloads and answers a narrowing of the
 * coordinator's rather than a drifting copy.
 */
type Schema = { type?: string; enum?: readonly unknown[]; required?: readonly string[]; properties?: Record<string, Schema>; additionalProperties?: boolean };

/** Every field `narrow` has, `wide` has with the same JSON type and a superset of its values; `narrow` requires what `wide` requires. */
function assertNarrows(narrow: Schema, wide: Schema, at: string): void {
  assert.equal(narrow.type, wide.type, `${at}: type`);
  if (wide.enum !== undefined) {
    assert.ok(narrow.enum !== undefined, `${at}: the coordinator restricts the values`);
    for (const v of narrow.enum) assert.ok(wide.enum.includes(v), `${at}: ${String(v)} is not a value the coordinator takes`);
  }
  for (const r of wide.required ?? []) assert.ok(narrow.required?.includes(r), `${at}: ${r} must be required`);
  if (wide.additionalProperties === false) assert.equal(narrow.additionalProperties, false, `${at}: closed to other fields`);
  for (const [name, sub] of Object.entries(narrow.properties ?? {})) {
    const w = wide.properties?.[name];
    assert.ok(w !== undefined, `${at}.${name}: not a field of the coordinator's`);
    assertNarrows(sub, w, `${at}.${name}`);
  }
}

test("the legacy sign bodies and answers narrow the coordinator's sign route", () => {
  const payload = S.signBody.properties.request.properties.payload as Schema;
  assertNarrows(messageSignBody.properties.payload as Schema, payload, 'message payload');
  assertNarrows(digestSignBody.properties.payload as Schema, payload, 'digest payload');
  assertNarrows(ed25519SignResult, S.signResult, 'ed25519 answer');
  assertNarrows(ecdsaSignResult, S.signResult, 'ecdsa answer');
  // The ECDSA answer has all of the coordinator's ECDSA fields, required: one key is never presigned, but says so.
  assert.deepEqual([...ecdsaSignResult.required].sort(), ['presigned', 'publicKey', 'recoveryId', 'requestId', 'signature']);
});

test('assertNarrows fails on a field the coordinator does not have, or a value it does not take', () => {
  const wide: Schema = { type: 'object', required: ['a'], properties: { a: { type: 'string', enum: ['x', 'y'] } } };
  assert.doesNotThrow(() => assertNarrows({ type: 'object', required: ['a'], properties: { a: { type: 'string', enum: ['x'] } } }, wide, 't'));
  assert.throws(() => assertNarrows({ type: 'object', required: ['a'], properties: { b: { type: 'string' } } }, wide, 't'), /not a field/);
  assert.throws(() => assertNarrows({ type: 'object', required: ['a'], properties: { a: { type: 'string', enum: ['z'] } } }, wide, 't'), /not a value/);
  assert.throws(() => assertNarrows({ type: 'object', properties: {} }, wide, 't'), /must be required/);
  assert.throws(() => assertNarrows({ type: 'object', required: ['a'], properties: { a: { type: 'integer' } } }, wide, 't'), /type/);
});
