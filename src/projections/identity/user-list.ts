import type { Kysely } from 'kysely';
import { ERASED, type UserEvent, userEventTypes } from '../../commands/identity/index.ts';
import { toStorableText } from '../../commands/kernel/index.ts';
import { defineProjection } from '../engine/index.ts';

/** A sign-in (a new token family: password login, OAuth code or password grant) of a user. */
type SignedIn = { type: 'TokenFamilyIssued'; data: { userId: string; tenantId: string; issuedAt: string } };

export interface UserListTable {
  id: string;
  tenant_id: string;
  email: string;
  name: string;
  role: string;
  status: string;
  username: string | null;
  /** Lowercased: the key of case-insensitive search and sort. */
  username_lower: string | null;
  last_login_at: Date | null;
  created_at: Date;
  updated_at: Date;
  revision: number;
  position: string;
}

// A type alias (not an interface) so kysely's withTables accepts it.
export type UserListTables = {
  user_list: UserListTable;
};

/** One row per user and tenant (never the password hash): the users list, search and filters read it. */
export const userList = defineProjection<UserEvent | SignedIn, UserListTables>()({
  name: 'userList',
  // 2: usernames, and the last sign-in (from the token families' `TokenFamilyIssued`).
  version: 2,
  types: [...userEventTypes, 'TokenFamilyIssued'],
  tables: ['user_list'],
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('user_list')
      .addColumn('id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('email', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('username', 'text')
      .addColumn('username_lower', 'text')
      .addColumn('last_login_at', 'timestamptz')
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('user_list_tenant_created')
      .on('user_list')
      .columns(['tenant_id', 'created_at', 'id'])
      .execute();
    await db.schema
      .createIndex('user_list_tenant_email')
      .on('user_list')
      .columns(['tenant_id', 'email'])
      .execute();
  },
  async apply(event, db) {
    if (event.type === 'TokenFamilyIssued') {
      // Another stream's event: the row's revision and position stay the user stream's.
      const at = new Date(event.data.issuedAt);
      await db
        .updateTable('user_list')
        .set({ last_login_at: at })
        .where('id', '=', event.data.userId)
        .where('tenant_id', '=', event.data.tenantId)
        .where((eb) => eb.or([eb('last_login_at', 'is', null), eb('last_login_at', '<', at)]))
        .execute();
      return;
    }
    const common = { revision: event.revision, position: event.position.toString() };
    if (event.type === 'UserRegistered') {
      // A removed or rejected user may register again on the same stream: the row starts over.
      const { userId, tenantId, email, name, role, status, at } = event.data;
      // Text stored before such input was refused (a NUL, a lone surrogate) must not stop the list.
      const row = {
        tenant_id: tenantId,
        email: toStorableText(email),
        name: toStorableText(name),
        role,
        status,
        username: null,
        username_lower: null,
        created_at: new Date(at),
        updated_at: new Date(at),
      };
      await db
        .insertInto('user_list')
        .values({ id: userId, ...row, ...common })
        .onConflict((oc) =>
          oc
            .column('id')
            .doUpdateSet({ ...row, ...common })
            .where('user_list.revision', '<', event.revision),
        )
        .execute();
      return;
    }
    const changes = ((): Partial<UserListTable> => {
      switch (event.type) {
        case 'UserApproved':
          return { status: 'active' };
        case 'UserRejected':
          return { status: 'rejected' };
        case 'UserRoleChanged':
          return { role: event.data.to };
        case 'UserRemoved':
          return { status: 'removed' };
        case 'UserPasswordRehashed':
        case 'PasswordChanged':
        case 'PasswordResetRequested':
        case 'PasswordReset':
        case 'PasswordResetByAdmin':
        case 'EmailVerificationRequested':
        case 'EmailVerified':
          return {};
        case 'UsernameSet':
          return {
            username: toStorableText(event.data.username),
            username_lower: toStorableText(event.data.username).toLowerCase(),
          };
        // The row drops the person at once; a rebuild reads the same placeholders from the events.
        case 'PersonalDataErased':
          return { email: ERASED, name: ERASED, username: null, username_lower: null };
      }
    })();
    await db
      .updateTable('user_list')
      .set({
        ...changes,
        ...(event.type === 'UserPasswordRehashed' ? {} : { updated_at: new Date(event.data.at) }),
        ...common,
      })
      .where('id', '=', event.data.userId)
      .where('revision', '<', event.revision)
      .execute();
  },
});
