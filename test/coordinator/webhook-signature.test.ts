import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signWebhook, verifyWebhook } from '../../src/coordinator/webhook-signature.ts';

const SECRET = 'whsec-test';
const BODY = '{"id":"d1","event":"request.signed"}';
const T = 1_700_000_000;

test('signature matches an independent HMAC-SHA256 (openssl dgst -sha256 -hmac)', () => {
  // printf '%s' '1700000000.{"id":"d1","event":"request.signed"}' | openssl dgst -sha256 -hmac whsec-test
  assert.equal(signWebhook(SECRET, BODY, T), 't=1700000000,v1=9a0310cbb121b7e793aa9ce2f22cf0b70b526a0460f3f2a76e885a5b7f3c4c7f');
});

test('a fresh, intact signature verifies, at both edges of the tolerance', () => {
  const h = signWebhook(SECRET, BODY, T);
  assert.equal(verifyWebhook(SECRET, h, BODY, T), true);
  assert.equal(verifyWebhook(SECRET, h, BODY, T + 300), true);
  assert.equal(verifyWebhook(SECRET, h, BODY, T - 300), true);
  assert.equal(verifyWebhook(SECRET, h, BODY, T + 10, 10), true);
});

test('tampered body, wrong secret, stale or future timestamp are refused', () => {
  const h = signWebhook(SECRET, BODY, T);
  assert.equal(verifyWebhook(SECRET, h, BODY.replace('signed', 'failed'), T), false, 'tampered body');
  assert.equal(verifyWebhook(SECRET, h, BODY + ' ', T), false, 'one byte more');
  assert.equal(verifyWebhook('whsec-other', h, BODY, T), false, 'wrong secret');
  assert.equal(verifyWebhook(SECRET, h, BODY, T + 301), false, 'stale');
  assert.equal(verifyWebhook(SECRET, h, BODY, T - 301), false, 'from the future');
  assert.equal(verifyWebhook(SECRET, h, BODY, T + 11, 10), false, 'custom tolerance');
  // Moving the timestamp forward to dodge the window breaks the MAC.
  const replayed = h.replace(`t=${T}`, `t=${T + 1000}`);
  assert.equal(verifyWebhook(SECRET, replayed, BODY, T + 1000), false, 'timestamp is inside the MAC');
});

test('malformed headers are refused, never thrown on', () => {
  const good = signWebhook(SECRET, BODY, T);
  const mac = good.split('v1=')[1];
  const bad: (string | undefined)[] = [
    undefined, '', 'garbage', `v1=${mac}`, `t=${T}`, `t=${T},v1=`, `t=${T},v1=${mac.slice(2)}`, `t=${T},v1=${mac.toUpperCase()}`,
    `t=${T},v1=${mac}zz`, `t=-${T},v1=${mac}`, `t=${T}.0,v1=${mac}`, `t=${T},t=${T},v1=${mac}`, `t=,v1=${mac}`,
    `t=${T};v1=${mac}`, `t=${T},v1=${mac},`, `t=${T},v1=${mac}` + ',x=1'.repeat(300),
  ];
  for (const h of bad) assert.equal(verifyWebhook(SECRET, h, BODY, T), false, String(h).slice(0, 80));
  assert.throws(() => signWebhook(SECRET, BODY, 1.5), RangeError);
});

test('several v1 entries (secret rotation): one valid entry suffices; unknown schemes are skipped', () => {
  const mac = signWebhook(SECRET, BODY, T).split('v1=')[1];
  const other = signWebhook('whsec-old', BODY, T).split('v1=')[1];
  assert.equal(verifyWebhook(SECRET, `t=${T},v1=${other},v1=${mac}`, BODY, T), true);
  assert.equal(verifyWebhook(SECRET, `t=${T}, v2=abc, v1=${mac}`, BODY, T), true);
  assert.equal(verifyWebhook(SECRET, `t=${T},v1=${other},v1=${other}`, BODY, T), false);
  assert.equal(verifyWebhook(SECRET, `t=${T},v2=${mac}`, BODY, T), false, 'a MAC under an unknown scheme does not count');
});
