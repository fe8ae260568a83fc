import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sha256 } from '@noble/hashes/sha2.js';
import { encode as rawEncode } from 'cbor2';
import { toHex, utf8 } from '../../src/common/bytes.ts';
import { SoftwareKeystore } from '../../src/hsm/software-keystore.ts';
import { decodeCbor, encodeCbor } from '../../src/wire/bundle-cbor.ts';
import { bundleContentDigest, bundleSigningBytes, bundleTime, MAX_BUNDLE_BYTES, openBundle, sealBundle, type BundleDraft, type OpenOptions } from '../../src/wire/bundle.ts';
import { EnvelopeVerifier, sealEnvelope, type Envelope } from '../../src/wire/envelope.ts';
import { attestTime } from '../../src/wire/time-attestation.ts';

/**
 * Bundles across the air gap: a roundtrip, one encoding per value, and one named rejection for
 * each way a carrier (USB stick, QR relay, coordinator) can tamper, cut, replay or redirect.
 */
const CLUSTER = toHex(sha256(utf8('custos-test-cluster')));
const OTHER_CLUSTER = toHex(sha256(utf8('another-cluster')));
const keys = Object.fromEntries(['coordinator', 'node-a', 'node-b', 'node-c'].map((id) => [id, new SoftwareKeystore()]));
const identityKeys = Object.fromEntries(Object.entries(keys).map(([id, ks]) => [id, ks.identityPublicKey()]));
const signer = (id: string) => (m: Uint8Array) => keys[id].signIdentity(m);

function draft(over: Partial<BundleDraft> = {}): BundleDraft {
  return {
    cluster: CLUSTER, from: 'coordinator', to: 'node-c', seq: 1, kind: 'sign', sessions: ['sign.batch-1'],
    createdAt: '2025-06-01T12:00:00.000Z',
    items: [{ request: 'MARKER-request-1', amount: '1000', nested: { list: [1, 2, 3], raw: new Uint8Array([0, 1, 2, 255]) } }, { t: true, n: null, neg: -5 }],
    ...over,
  };
}
const seal = (over: Partial<BundleDraft> = {}, as = over.from ?? 'coordinator') => sealBundle(draft(over), signer(as));
const opts = (over: Partial<OpenOptions> & { last?: number } = {}): OpenOptions => ({ cluster: CLUSTER, self: 'node-c', identityKeys, lastSeq: () => over.last ?? 0, ...over });
const open = (bytes: Uint8Array, over: Partial<OpenOptions> & { last?: number } = {}) => openBundle(bytes, opts(over));
const code = (c: string, check: (e: any) => boolean = () => true) => (e: any) => {
  assert.equal(e.code, c, `expected ${c}, got ${e.code}: ${e.message}`);
  return check(e);
};

/** Hand-made bundle from a sender that does not go through sealBundle (a buggy or hostile one). */
function craft(body: Record<string, unknown>, as = 'coordinator', enc: (x: unknown) => Uint8Array = encodeCbor): Uint8Array {
  const b = enc(body);
  return encodeCbor([b, keys[as].signIdentity(bundleSigningBytes(b))]);
}
const baseBody = () => ({ v: 1, cluster: CLUSTER, from: 'coordinator', to: 'node-c', seq: 1, kind: 'sign', sessions: ['s1'], createdAt: '2025-06-01T12:00:00.000Z', count: 1, items: [{ a: 1 }] });

test('a sealed bundle opens to the same header and items', () => {
  const d = draft({ seq: 7, kind: 'dkg', sessions: ['dkg.k1.abc', 'dkg.k2.def'] });
  const b = open(sealBundle(d, signer('coordinator')), { last: 6 });
  assert.deepEqual({ ...b, sig: undefined }, { v: 1, ...d, sig: undefined });
  assert.equal(b.sig.length, 64);
  assert.ok(b.items.every((x) => Object.getPrototypeOf(x) === Object.prototype));
  assert.equal(Object.getPrototypeOf((b.items[0] as any).nested.raw), Uint8Array.prototype, 'bytes come back as plain Uint8Array, not Buffer');
});

test('encoding is deterministic: same value, same bytes, whatever the key order or byte container', () => {
  const a = seal();
  const items = [{ nested: { raw: Buffer.from([0, 1, 2, 255]), list: [1, 2, 3] }, amount: '1000', request: 'MARKER-request-1' }, { neg: -5, n: null, t: true }];
  const b = sealBundle({ items, createdAt: '2025-06-01T12:00:00.000Z', sessions: ['sign.batch-1'], kind: 'sign', seq: 1, to: 'node-c', from: 'coordinator', cluster: CLUSTER }, signer('coordinator'));
  // The signed body is identical; so is the whole bundle, because the test keystore's ECDSA is
  // deterministic (RFC 6979); an HSM drawing k at random changes only the last 64 bytes.
  assert.deepEqual((decodeCbor(b) as Uint8Array[])[0], (decodeCbor(a) as Uint8Array[])[0]);
  assert.deepEqual(b, a);
  // RFC 8949 §4.2.1: keys sorted bytewise by encoding ("z" before "aa"), shortest argument forms.
  assert.equal(toHex(encodeCbor({ aa: 1, z: 2 })), 'a2617a0262616101');
  assert.equal(toHex(encodeCbor([23, 24, 255, 256, 65536, -1, -25])), '87171818 18ff 190100 1a00010000 20 3818'.replaceAll(' ', ''));
});

test('CBOR outside the deterministic profile is refused even when validly signed', () => {
  // Unsorted map keys (insertion order), a float, a tag, a non-shortest integer, trailing bytes.
  const unsorted = craft(baseBody(), 'coordinator', (x) => rawEncode(x));
  assert.throws(() => open(unsorted), code('bundle.malformed'));
  assert.throws(() => open(craft({ ...baseBody(), items: [{ a: 1.5 }] }, 'coordinator', (x) => rawEncode(x, { cde: true }))), code('bundle.malformed'));
  assert.throws(() => open(craft(baseBody(), 'coordinator', (x) => { const b = encodeCbor(x); return new Uint8Array([0xd8, 0x40, ...b]); })), code('bundle.malformed'));
  const b = encodeCbor(baseBody());
  const long = new Uint8Array([...b]);
  const seqAt = toHex(long).indexOf(toHex(utf8('seq')) + '01') / 2 + 3;
  const nonShortest = new Uint8Array([...long.subarray(0, seqAt), 0x18, 0x01, ...long.subarray(seqAt + 1)]);
  assert.throws(() => open(encodeCbor([nonShortest, keys.coordinator.signIdentity(bundleSigningBytes(nonShortest))])), code('bundle.malformed'));
  assert.throws(() => open(new Uint8Array([...seal(), 0x00])), code('bundle.malformed'));
  assert.throws(() => sealBundle(draft({ items: [{ x: 0.5 }] }), signer('coordinator')), code('cbor.unsupported'));
  assert.throws(() => sealBundle(draft({ items: [{ x: new Date() }] }), signer('coordinator')), code('cbor.unsupported'));
  assert.throws(() => sealBundle(draft({ items: [{ x: undefined }] }), signer('coordinator')), code('cbor.unsupported'));
  assert.throws(() => decodeCbor(encodeCbor(JSON.parse('{"__proto__": {"polluted": 1}}'))), code('cbor.unsupported'));
});

test('every proper prefix of a bundle is refused as truncated', () => {
  const bytes = seal();
  for (let n = 0; n < bytes.length; n++) {
    assert.throws(() => open(bytes.subarray(0, n)), code('bundle.truncated'), `prefix of ${n} of ${bytes.length} bytes`);
  }
});

test('a signed bundle carrying fewer items than it declares is refused as truncated, blaming its sender', () => {
  const bytes = craft({ ...baseBody(), count: 3, items: [{ a: 1 }, { a: 2 }] });
  assert.throws(() => open(bytes), code('bundle.truncated', (e) => e.culprit === 'coordinator' && /declares 3 items but carries 2/.test(e.message) && /bundle 1 from coordinator to node-c/.test(e.message)));
});

test('no single flipped bit anywhere in a bundle gets through', () => {
  const bytes = seal();
  const allowed = new Set(['bundle.malformed', 'bundle.truncated', 'bundle.bad_signature', 'bundle.wrong_version', 'bundle.wrong_cluster', 'bundle.misaddressed', 'bundle.unknown_sender', 'bundle.replayed', 'bundle.out_of_order']);
  const seen = new Map<string, number>();
  for (let i = 0; i < bytes.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const t = new Uint8Array(bytes);
      t[i] ^= bit;
      try {
        open(t);
        assert.fail(`flipping bit ${bit} of byte ${i} went unnoticed`);
      } catch (e: any) {
        assert.ok(allowed.has(e.code), `byte ${i}: unexpected ${e.code} ${e.message}`);
        seen.set(e.code, (seen.get(e.code) ?? 0) + 1);
      }
    }
  }
  assert.ok((seen.get('bundle.bad_signature') ?? 0) > 0 && (seen.get('bundle.malformed') ?? 0) > 0, JSON.stringify([...seen]));
});

test('an altered item or signature is a bad signature naming the claimed sender and seq', () => {
  const bytes = seal({ seq: 4 });
  const at = toHex(bytes).indexOf(toHex(utf8('MARKER'))) / 2;
  assert.ok(at > 0);
  const t = new Uint8Array(bytes);
  t[at] = 'X'.charCodeAt(0);
  const named = (e: any) => /bundle 4 from coordinator to node-c/.test(e.message) && e.detail.seq === 4;
  assert.throws(() => open(t, { last: 3 }), code('bundle.bad_signature', named));
  const s = new Uint8Array(bytes);
  s[s.length - 1] ^= 0x01;
  assert.throws(() => open(s, { last: 3 }), code('bundle.bad_signature', named));
  // Signed by a real cluster key, but not the one of the claimed sender.
  assert.throws(() => open(sealBundle(draft({ seq: 4 }), signer('node-a')), { last: 3 }), code('bundle.bad_signature', named));
});

test('a bundle for another recipient is misaddressed, naming both', () => {
  const bytes = seal({ to: 'node-b', seq: 2 });
  assert.throws(() => open(bytes, { last: 1 }), code('bundle.misaddressed', (e) => /bundle 2 from coordinator to node-b is addressed to node-b, not to node-c/.test(e.message)));
  assert.equal(open(bytes, { self: 'node-b', last: 1 }).to, 'node-b');
});

test('the stream position: the next seq opens, a repeat is a replay, a gap is out of order', () => {
  const one = seal({ seq: 1 });
  assert.equal(open(one, { last: 0 }).seq, 1);
  assert.throws(() => open(one, { last: 1 }), code('bundle.replayed', (e) => /bundle 1 from coordinator to node-c was already received/.test(e.message) && e.detail.last === 1));
  assert.throws(() => open(seal({ seq: 3 }), { last: 5 }), code('bundle.replayed'));
  assert.throws(() => open(seal({ seq: 3 }), { last: 1 }), code('bundle.out_of_order', (e) => e.detail.expected === 2 && /expected bundle 2 from coordinator next \(bundle 2 is missing\)/.test(e.message)));
  assert.throws(() => open(seal({ seq: 9 }), { last: 1 }), code('bundle.out_of_order', (e) => /bundles 2 to 8 are missing/.test(e.message)));
  // Streams are per sender: node-a's seq 1 is not coordinator's seq 1.
  const last: Record<string, number> = { coordinator: 1 };
  assert.equal(openBundle(seal({ from: 'node-a', seq: 1 }), { ...opts(), lastSeq: (f) => last[f] ?? 0 }).from, 'node-a');
});

test('other cluster, unknown sender and unsupported version are named', () => {
  assert.throws(() => open(seal({ cluster: OTHER_CLUSTER })), code('bundle.wrong_cluster'));
  const stranger = new SoftwareKeystore();
  const fromStranger = sealBundle(draft({ from: 'node-x' }), (m) => stranger.signIdentity(m));
  assert.throws(() => open(fromStranger), code('bundle.unknown_sender', (e) => /node-x/.test(e.message)));
  // Names inherited from Object.prototype are not parties.
  assert.throws(() => open(craft({ ...baseBody(), from: 'constructor' })), code('bundle.unknown_sender'));
  assert.throws(() => open(craft({ ...baseBody(), v: 2 })), code('bundle.wrong_version', (e) => /version 2 is not supported/.test(e.message)));
  assert.throws(() => open(craft({ v: 2, anything: 'else' })), code('bundle.wrong_version'));
});

test('the body structure is exact: unknown, missing and mistyped fields are refused', () => {
  assert.throws(() => open(craft({ ...baseBody(), extra: 1 })), code('bundle.malformed', (e) => /unknown field\(s\) extra/.test(e.message)));
  assert.throws(() => open(craft({ ...baseBody(), sig: new Uint8Array(64) })), code('bundle.malformed', (e) => /unknown field\(s\) sig/.test(e.message)));
  const { sessions: _, ...noSessions } = baseBody();
  assert.throws(() => open(craft(noSessions)), code('bundle.malformed', (e) => /missing field\(s\) sessions/.test(e.message)));
  for (const [k, v] of [['seq', 0], ['seq', '1'], ['kind', 'other'], ['createdAt', '2025-06-01T12:00:00Z'], ['sessions', ['a', 'a']], ['to', 'coordinator'], ['cluster', 'ABC'], ['timeAttestations', []]] as const) {
    assert.throws(() => open(craft({ ...baseBody(), [k]: v })), code('bundle.malformed'), `${k}=${JSON.stringify(v)}`);
  }
  assert.throws(() => open(encodeCbor({ body: 1 })), code('bundle.malformed'));
  assert.throws(() => open(encodeCbor([encodeCbor(baseBody()), new Uint8Array(63)])), code('bundle.malformed'));
});

test('the size limit is enforced before decoding, and at sealing', () => {
  // The default limit (512 MiB), without decoding: a length check on an unread buffer.
  const over = MAX_BUNDLE_BYTES + 1;
  assert.throws(() => open(new Uint8Array(over)), code('bundle.too_large', (e) => e.status === 413 && new RegExp(`${over} bytes, more than the ${MAX_BUNDLE_BYTES}`).test(e.message)));
  const bytes = seal();
  assert.throws(() => open(bytes, { maxBytes: bytes.length - 1 }), code('bundle.too_large'));
  assert.equal(open(bytes, { maxBytes: bytes.length }).seq, 1);
  assert.throws(() => sealBundle(draft({ items: [{ blob: new Uint8Array(5000) }] }), signer('coordinator'), { maxBytes: 4096 }), code('bundle.too_large', (e) => /bundle 1 from coordinator to node-c/.test(e.message)));
});

test('time attestations travel in the bundle and give the offline node its time', () => {
  const d = draft({ seq: 1 });
  const digest = bundleContentDigest(d);
  const t0 = Date.parse('2025-06-01T12:00:00.000Z');
  const timeAttestations = [attestTime({ cluster: CLUSTER, node: 'node-a', bundle: digest }, signer('node-a'), new Date(t0)), attestTime({ cluster: CLUSTER, node: 'node-b', bundle: digest }, signer('node-b'), new Date(t0 + 3000))];
  const b = open(sealBundle({ ...d, timeAttestations }, signer('coordinator')));
  const online = { 'node-a': identityKeys['node-a'], 'node-b': identityKeys['node-b'] };
  const t = bundleTime(b, { identityKeys: online, minCount: 2, maxSkewSeconds: 60 });
  assert.deepEqual([t.earliest.getTime(), t.latest.getTime(), t.attestedBy], [t0, t0 + 3000, ['node-a', 'node-b']]);
  assert.throws(() => bundleTime(b, { identityKeys: online, minCount: 3, maxSkewSeconds: 60 }), code('time.unattested'));
  assert.throws(() => bundleTime(open(seal()), { identityKeys: online, minCount: 1, maxSkewSeconds: 60 }), code('time.unattested', (e) => /node-c has no trusted clock/.test(e.message)));
  // Attestations gathered for other content are refused at sealing…
  assert.throws(() => sealBundle({ ...draft({ seq: 2 }), timeAttestations }, signer('coordinator')), code('bundle.attestation_mismatch'));
  // …and a sender that skips that check is named by the receiver.
  const stray = attestTime({ cluster: CLUSTER, node: 'node-a', bundle: bundleContentDigest(draft({ to: 'node-b' })) }, signer('node-a'), new Date(t0));
  const body = { ...baseBody(), count: d.items.length, items: d.items, sessions: d.sessions, timeAttestations: [stray] };
  const opened = open(craft(body));
  assert.throws(() => bundleTime(opened, { identityKeys: online, minCount: 1, maxSkewSeconds: 60 }), code('time.wrong_bundle', (e) => e.culprit === 'coordinator' && e.detail.node === 'node-a'));
});

test('100 realistic envelopes (~2 KB JSON each) roundtrip; size against JSON', (t) => {
  const hex = (n: number, i: number, salt: string) => toHex(sha256(utf8(`${salt}${i}`))).repeat(Math.ceil(n / 32)).slice(0, 2 * n);
  const envelopes: Envelope[] = [];
  for (let i = 0; i < 100; i++) {
    const payload = {
      commitments: Array.from({ length: 3 }, (_, j) => hex(33, i * 10 + j, 'c')),
      proof: { R: hex(33, i, 'R'), z: hex(32, i, 'z'), challenge: hex(32, i, 'e') },
      encryptedShare: { ephemeral: hex(33, i, 'E'), iv: hex(12, i, 'iv'), ciphertext: hex(48, i, 'ct'), tag: hex(16, i, 't') },
      mta: { k: hex(300, i, 'k'), gamma: hex(200, i, 'g') },
      index: i,
    };
    envelopes.push(sealEnvelope({ cluster: CLUSTER, session: `presign.batch-${Math.floor(i / 10)}`, round: 'presign.r1', from: 'node-a', to: 'node-c' }, payload, signer('node-a')));
  }
  const json = utf8(JSON.stringify(envelopes)).length;
  const sessions = [...new Set(envelopes.map((e) => e.session))];
  const bytes = sealBundle(draft({ kind: 'stage', from: 'coordinator', sessions, items: envelopes }), signer('coordinator'));
  const b = open(bytes);
  assert.deepEqual(b.items, envelopes);
  const verifier = new EnvelopeVerifier(CLUSTER, identityKeys);
  for (const e of b.items as Envelope[]) verifier.verify(e, { session: e.session, round: 'presign.r1', to: 'node-c', relayed: false });
  // The same data with hex turned into CBOR byte strings, as a compact profile would carry it.
  const asBytes = (x: unknown): unknown => typeof x === 'string' && /^(?:[0-9a-f]{2}){8,}$/.test(x) ? Buffer.from(x, 'hex') : Array.isArray(x) ? x.map(asBytes) : x && typeof x === 'object' ? Object.fromEntries(Object.entries(x).map(([k, v]) => [k, asBytes(v)])) : x;
  const compact = sealBundle(draft({ kind: 'stage', sessions, items: asBytes(envelopes) as unknown[] }), signer('coordinator')).length;
  t.diagnostic(`100 envelopes: JSON ${json} B (${Math.round(json / 100)} B each); bundle ${bytes.length} B (${(bytes.length / json).toFixed(3)} of JSON); with hex as byte strings ${compact} B (${(compact / json).toFixed(3)})`);
  assert.ok(json / 100 > 1800 && json / 100 < 2600, `envelopes are ~2 KB (${json / 100})`);
  assert.ok(bytes.length < json, 'CBOR framing costs less than JSON quoting');
  assert.ok(compact < 0.6 * json, 'hex as byte strings halves the payload');
});
