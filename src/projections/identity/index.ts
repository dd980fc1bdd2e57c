export { type UserListTables, userList } from './user-list.ts';
