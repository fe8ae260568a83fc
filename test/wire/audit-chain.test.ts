import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftwareKeystore } from '../../src/hsm/software-keystore.ts';
import { nextEntry, signAnchor, verifyAuditLog, parseAuditJsonl, type AuditEntry } from '../../src/wire/audit-chain.ts';

/** The audit chain names the exact entry for each kind of tampering, truncation included. */
const ks = new SoftwareKeystore();
const other = new SoftwareKeystore();
const sign = (m: Uint8Array) => ks.signIdentity(m);

function log(n: number): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (let i = 0; i < n; i++) out.push(nextEntry('node-1', out.at(-1), i % 2 ? 'share.released' : 'key.created', { key: `k${i}`, amount: String(i) }, sign, new Date(1_700_000_000_000 + i * 1000)));
  return out;
}
const verify = (entries: AuditEntry[], anchors = [] as ReturnType<typeof signAnchor>[]) => verifyAuditLog('node-1', ks.identityPublicKey(), entries, anchors);
const named = (code: string, seq: number) => (e: any) => e.code === code && e.detail?.seq === seq;

test('an untouched log verifies, also through JSONL', () => {
  const entries = log(6);
  const out = verify(parseAuditJsonl(entries.map((e) => JSON.stringify(e)).join('\n') + '\n'));
  assert.deepEqual(out, { count: 6, head: entries[5].hash, seq: 6 });
  assert.equal(verify(log(6), [signAnchor('node-1', entries[5], sign)]).seq, 6);
});

test('an edited entry is named: its data, its time, or a re-signed hash by another key', () => {
  const a = log(6);
  a[3] = { ...a[3], data: { ...a[3].data, amount: '1000000' } };
  assert.throws(() => verify(a), named('audit.edited', 4));
  const b = log(6);
  b[2] = { ...b[2], time: new Date(0).toISOString() };
  assert.throws(() => verify(b), named('audit.edited', 3));
  const c = log(6);
  const forged = nextEntry('node-1', c[0], 'key.created', { key: 'other' }, (m) => other.signIdentity(m));
  c[1] = { ...forged, prev: c[0].hash };
  assert.throws(() => verify(c), named('audit.edited', 2));
});

test('a deleted entry, a reordering and a duplicate are named', () => {
  const a = log(6);
  a.splice(2, 1);
  assert.throws(() => verify(a), named('audit.missing', 3));
  const b = log(6);
  [b[3], b[4]] = [b[4], b[3]];
  assert.throws(() => verify(b), named('audit.reordered', 4));
  const c = log(6);
  c.splice(3, 0, c[1]);
  assert.throws(() => verify(c), named('audit.reordered', 2));
});

test('a rewritten tail (re-chained entries from a point) is caught by the anchor', () => {
  const a = log(6);
  const anchor = signAnchor('node-1', a[5], sign);
  // The party itself rewrites from entry 4 on, re-signing everything: the chain is valid, the anchor is not met.
  const rewritten = a.slice(0, 3);
  for (let i = 3; i < 6; i++) rewritten.push(nextEntry('node-1', rewritten.at(-1), 'share.released', { key: 'rewritten' }, sign));
  assert.equal(verify(rewritten).seq, 6, 'without anchors a consistent rewrite is undetectable');
  assert.throws(() => verify(rewritten, [anchor]), named('audit.edited', 6));
});

test('a truncated tail is named against a signed anchor; a forged anchor is refused', () => {
  const a = log(6);
  const anchor = signAnchor('node-1', a[5], sign);
  assert.throws(() => verify(a.slice(0, 4), [anchor]), named('audit.truncated', 5));
  const forged = { ...anchor, seq: 9 };
  assert.throws(() => verify(a, [forged]), (e: any) => e.code === 'audit.bad_anchor');
});

test('a peer\'s countersignature (the peers list of a release entry in its own log) catches a cut tail and a rewrite', async () => {
  const { countersignaturesIn } = await import('../../src/wire/audit-chain.ts');
  const mine = log(6);
  // node-2's own chain records node-1's signed head after entry 5.
  const peerSign = (m: Uint8Array) => other.signIdentity(m);
  const third = new SoftwareKeystore();
  const p1 = nextEntry('node-2', undefined, 'share.released', { n: 1 }, peerSign);
  const p2 = nextEntry('node-2', p1, 'share.released', { key: 'k', peers: [signAnchor('node-1', mine[4], sign), signAnchor('node-3', { seq: 9, hash: '00'.repeat(32) }, (m) => third.signIdentity(m))] }, peerSign);
  const peerLog = [p1, p2];
  assert.equal(verifyAuditLog('node-2', other.identityPublicKey(), peerLog).seq, 2);
  const cs = countersignaturesIn(peerLog, 'node-1', ks.identityPublicKey());
  assert.deepEqual(cs.map((c) => [c.party, c.seq, c.by]), [['node-1', 5, 'node-2']]);
  assert.equal(verifyAuditLog('node-1', ks.identityPublicKey(), mine, [], cs).seq, 6);
  assert.throws(() => verifyAuditLog('node-1', ks.identityPublicKey(), mine.slice(0, 4), [], cs), (e: any) => e.code === 'audit.truncated' && /node-2 countersigned/.test(e.message));
  // Re-chained from entry 3 by the party itself (valid signatures), but not what node-2 saw.
  const rewritten = mine.slice(0, 2);
  for (let i = 3; i <= 6; i++) rewritten.push(nextEntry('node-1', rewritten[rewritten.length - 1], 'rewritten', { i }, sign));
  assert.throws(() => verifyAuditLog('node-1', ks.identityPublicKey(), rewritten, [], cs), (e: any) => e.code === 'audit.edited' && e.detail.seq === 5);
  assert.deepEqual(countersignaturesIn(peerLog, 'node-3', third.identityPublicKey()).map((c) => c.seq), [9]);
  assert.deepEqual(countersignaturesIn(peerLog, 'node-4', third.identityPublicKey()), []);
  // A rogue peer recording a head node-1 never signed is named, not believed.
  const framed = nextEntry('node-2', p2, 'share.released', { peers: [{ party: 'node-1', seq: 6, head: 'ab'.repeat(32), sig: signAnchor('node-1', mine[5], sign).sig }] }, peerSign);
  assert.throws(() => countersignaturesIn([p1, p2, framed], 'node-1', ks.identityPublicKey()), (e: any) => e.code === 'audit.bad_countersignature' && e.detail.by === 'node-2' && e.detail.seq === 3);
});
