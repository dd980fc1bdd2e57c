export { tenantSessions } from './tenant-sessions.ts';
export { userSessions } from './user-sessions.ts';
