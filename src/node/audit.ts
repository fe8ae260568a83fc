/** The node's audit log: the shared hash-chained, HSM-signed log of wire/audit-log.ts. */
export { AuditLog as NodeAudit } from '../wire/audit-log.ts';
