export { userSessions } from './user-sessions.ts';
