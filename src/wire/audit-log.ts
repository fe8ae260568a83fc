import type { Json } from '../common/canonical-json.ts';
import type { DatabaseSync } from 'node:sqlite';
import { nextEntry, signAnchor, verifiedAnchor, type AuditAnchor, type AuditEntry } from './audit-chain.ts';
import type { IdentitySigner } from './envelope.ts';
import { syslogLine } from './audit-syslog.ts';

/** Where a party keeps its log: the node's or the coordinator's SQLite store. */
export type AuditStore = {
  db: DatabaseSync;
  lastAuditEntry(): string | undefined;
  insertAuditEntry(seq: number, entry: string): void;
  auditEntries(after: number, limit: number): string[];
};

/**
 * A party's own audit log (audit-chain.ts), for a node and for the coordinator alike: entries
 * hash-chained and signed by the party's HSM identity key, appended inside the same SQLite
 * transaction as the state change they record. So it fails closed: if the entry cannot be
 * written, the transaction (and the release of a share) does not happen.
 */
export class AuditLog {
  readonly #store: AuditStore;
  readonly #party: string;
  readonly #sign: IdentitySigner;
  constructor(store: AuditStore, party: string, sign: IdentitySigner) {
    this.#store = store;
    this.#party = party;
    this.#sign = sign;
    store.db.exec('CREATE TABLE IF NOT EXISTS peer_anchors (party TEXT PRIMARY KEY, seq INTEGER NOT NULL)');
  }

  /**
   * Countersigning (issue 4, item 6): the (sequence, head) each co-signer handed out, relayed with
   * a signing request, is verified and returned when it is newer than the last one recorded; the
   * caller puts the list in the `peers` field of the entry it appends for the release, so this
   * node's own signed chain vouches for its peers' heads. A peer's log cut short later is caught
   * from this node's log, even if the coordinator lost or withheld its anchors. Anchors not signed
   * by their party, or from unknown parties, are ignored (the relay cannot make us record a false
   * head). Call inside the transaction of the release.
   */
  countersign(anchors: unknown, identityKeys: Record<string, string>): AuditAnchor[] {
    if (!Array.isArray(anchors)) return [];
    const out: AuditAnchor[] = [];
    for (const x of anchors.slice(0, 16)) {
      const party = (x as Partial<AuditAnchor> | null)?.party;
      if (typeof party !== 'string' || party === this.#party || !Object.hasOwn(identityKeys, party)) continue;
      const a = verifiedAnchor(x, Buffer.from(identityKeys[party], 'hex'));
      if (!a || !/^[0-9a-f]{64}$/.test(a.head)) continue;
      // Recorded only if newer than what this node already countersigned for the party.
      const newer = this.#store.db.prepare('INSERT INTO peer_anchors (party, seq) VALUES (?, ?) ON CONFLICT(party) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > peer_anchors.seq').run(a.party, a.seq);
      // The party's own signature goes along: a verifier then needs no trust in this node's word.
      if (newer.changes === 1) out.push(a);
    }
    return out;
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

  /** A signed anchor of the newest entry (none while the log is empty). */
  headAnchor(): AuditAnchor | undefined {
    const last = this.#store.lastAuditEntry();
    return last ? this.anchor(JSON.parse(last) as AuditEntry) : undefined;
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
