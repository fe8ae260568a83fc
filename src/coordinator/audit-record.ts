import type { Json } from '../common/canonical-json.ts';
import type { AuditLog } from '../wire/audit-log.ts';
import type { CoordinatorStore } from './store.ts';

/**
 * Appends one entry to the coordinator's own audit log, in its own transaction. It fails loudly:
 * a request whose submission, decision or approval cannot be logged does not go on.
 */
export function recordAudit(store: CoordinatorStore, audit: AuditLog | undefined, kind: string, data: { [k: string]: Json }): void {
  if (!audit) return;
  store.tx(() => { audit.append(kind, data); });
}
