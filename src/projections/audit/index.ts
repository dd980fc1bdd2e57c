export { type AuditEntriesTables, auditEntries } from './audit-entries.ts';
export {
  type AuditFilter,
  type AuditOrder,
  auditEntriesAll,
  auditPage,
  type OriginKeys,
} from './queries.ts';
