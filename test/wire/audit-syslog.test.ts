import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SoftwareKeystore } from '../../src/hsm/software-keystore.ts';
import { nextEntry } from '../../src/wire/audit-chain.ts';
import { syslogLine } from '../../src/wire/audit-syslog.ts';

/** RFC 5424 framing of audit entries, checked against the grammar of §6 with a regular expression. */
const RFC5424 = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\[[^\]]*(?:\\\][^\]]*)*\]) (.*)$/;
const ks = new SoftwareKeystore();

test('an audit entry becomes one RFC 5424 line with the chain fields as structured data', () => {
  const e = nextEntry('node-1', undefined, 'share.released', { key: 'k1', note: 'a "quoted" ] value' }, (m) => ks.signIdentity(m), new Date('2026-11-21T10:00:00.000Z'));
  const line = syslogLine(e, 'signer-a');
  const m = RFC5424.exec(line);
  assert.ok(m, line);
  assert.equal(Number(m![1]), 13 * 8 + 5, 'facility log audit, severity notice');
  assert.equal(m![2], '2026-11-21T10:00:00.000Z');
  assert.equal(m![3], 'signer-a');
  assert.equal(m![4], 'custos');
  assert.equal(m![6], 'share.released');
  assert.match(m![7], /^\[custos@32473 party="node-1" seq="1" kind="share.released" hash="[0-9a-f]{64}" prev="0{64}"\]$/);
  assert.deepEqual(JSON.parse(m![8]), e.data);
  assert.ok(!line.includes('\n'));
});

test('aborts are warnings; hostile party names are escaped in structured data', () => {
  const e = nextEntry('no"de]\\x', undefined, 'presign.aborted', { code: 'dkls.ote_check' }, (m) => ks.signIdentity(m));
  const line = syslogLine(e);
  assert.match(line, /^<108>1 /, 'severity warning');
  assert.ok(line.includes('party="no\\"de\\]\\\\x"'), line);
  assert.match(line, / - custos - presign.aborted /);
});
