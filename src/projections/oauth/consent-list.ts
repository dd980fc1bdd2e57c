import type { Kysely } from 'kysely';
import { type ConsentEvent, consentEventTypes } from '../../commands/oauth/index.ts';
import { defineProjection } from '../engine/index.ts';

export interface OAuthConsentTable {
  tenant_id: string;
  user_id: string;
  client_id: string;
  scopes: string;
  granted_at: Date;
  position: string;
}

export type OAuthConsentTables = {
  oauth_consent_list: OAuthConsentTable;
};

/** What each user has allowed each client, for "your connected applications". */
export const oauthConsentList = defineProjection<ConsentEvent, OAuthConsentTables>()({
  name: 'oauthConsentList',
  version: 1,
  types: consentEventTypes,
  tables: ['oauth_consent_list'],
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('oauth_consent_list')
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('user_id', 'uuid', (c) => c.notNull())
      .addColumn('client_id', 'uuid', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('granted_at', 'timestamptz', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('oauth_consent_list_pk', ['tenant_id', 'user_id', 'client_id'])
      .execute();
  },
  async apply(event, db) {
    const { tenantId, userId, clientId } = event.data;
    if (event.type === 'OAuthConsentRevoked') {
      await db
        .deleteFrom('oauth_consent_list')
        .where('tenant_id', '=', tenantId)
        .where('user_id', '=', userId)
        .where('client_id', '=', clientId)
        .execute();
      return;
    }
    const row = {
      tenant_id: tenantId,
      user_id: userId,
      client_id: clientId,
      scopes: event.data.scopes.join(' '),
      granted_at: new Date(event.data.at),
      position: event.position.toString(),
    };
    await db
      .insertInto('oauth_consent_list')
      .values(row)
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'user_id', 'client_id'])
          .doUpdateSet({ scopes: row.scopes, granted_at: row.granted_at, position: row.position }),
      )
      .execute();
  },
});
