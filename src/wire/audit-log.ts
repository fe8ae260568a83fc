import type { Json } from '../common/canonical-json.ts';
import { nextEntry, signAnchor, type AuditAnchor, type AuditEntry } from '../wire/audit-chain.ts';
import type { IdentitySigner } from '../wire/envelope.ts';
import type { NodeStore } from './store.ts';
import { syslogLine } from '../wire/audit-syslog.ts';

/**
 * The node's own audit log (wire/audit-chain.ts): entries hash-chained and signed by the node's
 * HSM identity key, appended inside the same SQLite transaction as the state change they record.
 * So it fails closed: if the entry cannot be written, the transaction (and the release of a
 * share) does not happen.
 */
export class NodeAudit {
  readonly #store: NodeStore;
  readonly #party: string;
  readonly #sign: IdentitySigner;
  constructor(store: NodeStore, party: string, sign: IdentitySigner) {
    this.#store = store;
    this.#party = party;
    this.#sign = sign;
  }

  /** Appends one entry; call inside the transaction of the change it records. */
  append(kind: string, data: { [k: string]: Json }): AuditEntry {
    const last = this.#store.lastAuditEntry();
    const e = nextEntry(this.#party, last ? JSON.parse(last) as AuditEntry : undefined, kind, data, this.#sign);
    this.#store.insertAuditEntry(e.seq, JSON.stringify(e));
    return e;
  }

  /** This node's signed (sequence, head) after `entry`, handed out with every released share. */
  anchor(entry: AuditEntry): AuditAnchor {
    return signAnchor(this.#party, entry, this.#sign);
  }

  /** Entries after `after`, as JSONL. */
  jsonl(after = 0, limit = 10_000): string {
    return this.#store.auditEntries(after, limit).map((l) => l + '\n').join('');
  }

  /** Entries after `after`, as RFC 5424 syslog lines (wire/audit-syslog.ts) for a SIEM. */
  syslog(after = 0, limit = 10_000): string {
    return this.#store.auditEntries(after, limit).map((l) => syslogLine(JSON.parse(l) as AuditEntry, this.#party) + '\n').join('');
  }
}
