import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8 } from '../../src/common/bytes.ts';
import { SoftwareKeystore } from '../../src/hsm/software-keystore.ts';
import { bundleContentDigest, type BundleContent } from '../../src/wire/bundle.ts';
import { attestationBytes, attestTime, hasExpired, timelockOpen, verifyTimeAttestations, type TimeAttestation, type TimeCheck } from '../../src/wire/time-attestation.ts';

/**
 * The offline node's only clock: online nodes' signed times, bound to one bundle. Forged,
 * foreign-cluster, replayed-into-another-bundle and self-made attestations are named; too few
 * means no time at all, so time rules are refused.
 */
const CLUSTER = toHex(sha256(utf8('custos-test-cluster')));
const OTHER = toHex(sha256(utf8('another-cluster')));
const keys = Object.fromEntries(['node-a', 'node-b', 'node-d', 'node-c'].map((id) => [id, new SoftwareKeystore()]));
const online = Object.fromEntries(['node-a', 'node-b', 'node-d'].map((id) => [id, keys[id].identityPublicKey()]));
const signer = (id: string) => (m: Uint8Array) => keys[id].signIdentity(m);

const content = (over: Partial<BundleContent> = {}): BundleContent => ({ cluster: CLUSTER, from: 'coordinator', to: 'node-c', seq: 5, kind: 'sign', sessions: ['sign.b1'], createdAt: '2025-06-01T12:00:00.000Z', items: [{ request: 'r1' }], ...over });
const DIGEST = bundleContentDigest(content());
const T0 = Date.parse('2025-06-01T12:00:00.000Z');
const att = (node: string, dt = 0, over: { cluster?: string; bundle?: Uint8Array; as?: string } = {}): TimeAttestation =>
  attestTime({ cluster: over.cluster ?? CLUSTER, node, bundle: over.bundle ?? DIGEST }, signer(over.as ?? node), new Date(T0 + dt));
const check = (over: Partial<TimeCheck> = {}): TimeCheck => ({ cluster: CLUSTER, identityKeys: online, recipient: 'node-c', bundle: DIGEST, from: 'coordinator', minCount: 2, maxSkewSeconds: 120, ...over });
const code = (c: string, check: (e: any) => boolean = () => true) => (e: any) => {
  assert.equal(e.code, c, `expected ${c}, got ${e.code}: ${e.message}`);
  return check(e);
};
const blames = (node: string) => (e: any) => e.culprit === 'coordinator' && e.detail?.node === node && e.message.includes(node);

test('valid attestations give the earliest time for timelocks and the latest for expiries', () => {
  const t = verifyTimeAttestations([att('node-b', 30_000), att('node-a'), att('node-d', 10_000)], check());
  assert.equal(t.earliest.getTime(), T0);
  assert.equal(t.latest.getTime(), T0 + 30_000);
  assert.deepEqual(t.attestedBy, ['node-a', 'node-d', 'node-b']);
  // A timelock opening 20 s after T0 stays shut (earliest is T0) though node-b says T0+30 s…
  assert.equal(timelockOpen(t, new Date(T0 + 20_000)), false);
  assert.equal(timelockOpen(t, new Date(T0)), true);
  // …and an approval valid until T0+20 s counts as expired (latest is T0+30 s).
  assert.equal(hasExpired(t, new Date(T0 + 20_000)), true);
  assert.equal(hasExpired(t, new Date(T0 + 30_001)), false);
});

test('a forged attestation is named, with the node it claims and the sender that carried it', () => {
  assert.throws(() => verifyTimeAttestations([att('node-a'), att('node-b', 0, { as: 'node-d' })], check()), code('time.bad_signature', blames('node-b')));
  const tampered = { ...att('node-a'), time: new Date(T0 + 86_400_000).toISOString() };
  assert.throws(() => verifyTimeAttestations([tampered, att('node-b')], check()), code('time.bad_signature', blames('node-a')));
});

test('an attestation made for another cluster does not verify in this one', () => {
  // Same bundle digest, signed for another cluster: only the signature binds the cluster here.
  assert.throws(() => verifyTimeAttestations([att('node-a'), att('node-b', 0, { cluster: OTHER })], check()), code('time.bad_signature', blames('node-b')));
  // Made for the other cluster's bundle: the content digest differs as well.
  const foreign = att('node-a', 0, { cluster: OTHER, bundle: bundleContentDigest(content({ cluster: OTHER })) });
  assert.throws(() => verifyTimeAttestations([foreign, att('node-b')], check()), code('time.wrong_bundle', blames('node-a')));
});

test('an attestation replayed from a bundle for another recipient, stream or seq is named', () => {
  for (const other of [content({ to: 'node-b' }), content({ seq: 4 }), content({ from: 'node-a' }), content({ items: [{ request: 'r2' }] })]) {
    const replayed = att('node-a', 0, { bundle: bundleContentDigest(other) });
    assert.throws(() => verifyTimeAttestations([replayed, att('node-b')], check()), code('time.wrong_bundle', blames('node-a')));
  }
});

test('unknown, self-made and duplicate attestations are refused', () => {
  const stranger = attestTime({ cluster: CLUSTER, node: 'node-x', bundle: DIGEST }, (m) => new SoftwareKeystore().signIdentity(m), new Date(T0));
  assert.throws(() => verifyTimeAttestations([stranger, att('node-a')], check()), code('time.unknown_node', blames('node-x')));
  assert.throws(() => verifyTimeAttestations([att('node-a'), { ...att('node-a'), node: 'hasOwnProperty' }], check()), code('time.unknown_node'));
  // The offline recipient has no clock to attest with, even if its key is listed.
  assert.throws(() => verifyTimeAttestations([att('node-c'), att('node-a')], check({ identityKeys: { ...online, 'node-c': keys['node-c'].identityPublicKey() } })), code('time.self_attested', blames('node-c')));
  assert.throws(() => verifyTimeAttestations([att('node-a'), att('node-a', 5)], check()), code('time.duplicate', blames('node-a')));
});

test('too few attestations mean no time: time rules are refused', () => {
  assert.throws(() => verifyTimeAttestations([att('node-a')], check()), code('time.unattested', (e) => e.detail.have === 1 && e.detail.need === 2 && /timelocks, expiries/.test(e.message)));
  assert.throws(() => verifyTimeAttestations([], check({ minCount: 1 })), code('time.unattested'));
  assert.throws(() => verifyTimeAttestations(undefined, check({ minCount: 1 })), code('time.unattested'));
  assert.throws(() => verifyTimeAttestations([att('node-a')], check({ minCount: 0 })), code('time.bad_options'));
  assert.equal(verifyTimeAttestations([att('node-a')], check({ minCount: 1 })).attestedBy.length, 1);
});

test('attested times further apart than the allowed skew are refused, naming both ends', () => {
  assert.throws(() => verifyTimeAttestations([att('node-a'), att('node-b', 121_000)], check()), code('time.skew', (e) => e.detail.earliest === 'node-a' && e.detail.latest === 'node-b'));
  assert.equal(verifyTimeAttestations([att('node-a'), att('node-b', 120_000)], check()).latest.getTime(), T0 + 120_000);
});

test('the form is exact: one time format, exact fields, sizes', () => {
  const good = att('node-a');
  const resigned = (time: string) => ({ ...good, time, sig: keys['node-a'].signIdentity(attestationBytes(CLUSTER, 'node-a', time, DIGEST)) });
  for (const bad of [resigned('2025-06-01T12:00:00Z'), resigned('2025-06-01T12:00:00.000+00:00'), resigned('2025-02-30T12:00:00.000Z'), { ...good, extra: 1 }, { ...good, sig: good.sig.subarray(0, 63) }, { ...good, bundle: toHex(good.bundle) }, { node: 'node-a', time: good.time, sig: good.sig }]) {
    assert.throws(() => verifyTimeAttestations([bad, att('node-b')], check()), code('time.malformed'), JSON.stringify(bad));
  }
});
