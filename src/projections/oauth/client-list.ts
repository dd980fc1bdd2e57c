import type { Kysely } from 'kysely';
import { type ClientEvent, clientEventTypes } from '../../commands/oauth/index.ts';
import { defineProjection } from '../engine/index.ts';

export interface OAuthClientListTable {
  id: string;
  tenant_id: string;
  name: string;
  type: string;
  grant_types: string;
  status: string;
  created_at: Date;
  updated_at: Date;
  revision: number;
  position: string;
}

export type OAuthClientListTables = {
  oauth_client_list: OAuthClientListTable;
};

/** One row per OAuth client and tenant (never a secret hash): the clients list reads it. */
export const oauthClientList = defineProjection<ClientEvent, OAuthClientListTables>()({
  name: 'oauthClientList',
  version: 1,
  types: clientEventTypes,
  tables: ['oauth_client_list'],
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('oauth_client_list')
      .addColumn('id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('grant_types', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('oauth_client_list_tenant')
      .on('oauth_client_list')
      .columns(['tenant_id', 'created_at', 'id'])
      .execute();
  },
  async apply(event, db) {
    const stamp = { revision: event.revision, position: event.position.toString() };
    if (event.type === 'OAuthClientRegistered') {
      const d = event.data;
      await db
        .insertInto('oauth_client_list')
        .values({
          id: d.clientId,
          tenant_id: d.tenantId,
          name: d.name,
          type: d.type,
          grant_types: d.grantTypes.join(' '),
          status: 'active',
          created_at: new Date(d.at),
          updated_at: new Date(d.at),
          ...stamp,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      return;
    }
    const changes =
      event.type === 'OAuthClientUpdated'
        ? {
            ...(event.data.changes.name ? { name: event.data.changes.name } : {}),
            ...(event.data.changes.grantTypes
              ? { grant_types: event.data.changes.grantTypes.join(' ') }
              : {}),
          }
        : event.type === 'OAuthClientDeleted'
          ? { status: 'deleted' }
          : {};
    await db
      .updateTable('oauth_client_list')
      .set({ ...changes, updated_at: new Date(event.data.at), ...stamp })
      .where('id', '=', event.data.clientId)
      .where('revision', '<', event.revision)
      .execute();
  },
});
