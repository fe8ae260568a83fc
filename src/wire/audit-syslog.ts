import type { AuditEntry } from './audit-chain.ts';

/**
 * Audit entries as RFC 5424 syslog messages, for a SIEM. One line per entry:
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [custos@32473 ...] MSG
 * facility 13 (log audit), severity 5 (notice) for normal events and 4 (warning) for aborts and
 * failures. The structured data carries the chain fields (party, seq, hash, prev) so a SIEM can
 * spot gaps; MSG is the entry's canonical JSON data. SD-PARAM values escape ", \ and ] (§6.3.3).
 * 32473 is the private enterprise number RFC 5612 reserves for documentation.
 */
const FACILITY_LOG_AUDIT = 13;
const SD_ID = 'custos@32473';

export function syslogLine(e: AuditEntry, hostname = '-'): string {
  const severity = /abort|fail|refus/.test(e.kind) ? 4 : 5;
  const pri = FACILITY_LOG_AUDIT * 8 + severity;
  const sd = `[${SD_ID} party="${esc(e.party)}" seq="${e.seq}" kind="${esc(e.kind)}" hash="${e.hash}" prev="${e.prev}"]`;
  return `<${pri}>1 ${e.time} ${token(hostname)} custos - ${token(e.kind)} ${sd} ${JSON.stringify(e.data)}`;
}

function esc(v: string): string {
  return v.replace(/[\\"\]]/g, (c) => `\\${c}`);
}

/** HOSTNAME, MSGID: printable US-ASCII without spaces, bounded (§6.2); anything else becomes "-". */
function token(v: string): string {
  const t = v.replace(/[^\x21-\x7e]/g, '').slice(0, 32);
  return t === '' ? '-' : t;
}
