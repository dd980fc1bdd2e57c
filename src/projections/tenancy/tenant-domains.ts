import type { Kysely } from 'kysely';
import { type TenantDomainEvent, tenantDomainEventTypes } from '../../commands/tenancy/index.ts';
import { defineProjection } from '../engine/index.ts';

export interface TenantDomainTable {
  domain: string;
  tenant_id: string;
  added_at: Date;
  /** Expected in the TXT record `_warden-challenge.<domain>`. */
  verification_token: string;
  /** Null while the claim is pending: tenant resolution serves verified domains only. */
  verified_at: Date | null;
  revision: number;
  position: string;
}

// A type alias (not an interface) so kysely's withTables accepts it.
export type TenantDomainTables = {
  tenant_domain: TenantDomainTable;
};

/**
 * Custom domain → tenant, pending or verified: tenant resolution reads the verified ones for the Host
 * header. Version 2 added the claim's token and its verification (the engine rebuilds it from events).
 */
export const tenantDomains = defineProjection<TenantDomainEvent, TenantDomainTables>()({
  name: 'tenantDomains',
  version: 2,
  types: tenantDomainEventTypes,
  tables: ['tenant_domain'],
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('tenant_domain')
      .addColumn('domain', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('added_at', 'timestamptz', (c) => c.notNull())
      .addColumn('verification_token', 'text', (c) => c.notNull())
      .addColumn('verified_at', 'timestamptz')
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('tenant_domain_tenant').on('tenant_domain').column('tenant_id').execute();
  },
  async apply(event, db) {
    if (event.type === 'TenantDomainAdded') {
      const row = {
        domain: event.data.domain,
        tenant_id: event.data.tenantId,
        added_at: new Date(event.data.at),
        verification_token: event.data.verificationToken,
        verified_at: null,
        revision: event.revision,
        position: event.position.toString(),
      };
      // One stream per domain: a later revision replaces an older row, a replayed one changes nothing.
      await db
        .insertInto('tenant_domain')
        .values(row)
        .onConflict((oc) =>
          oc
            .column('domain')
            .doUpdateSet({
              tenant_id: row.tenant_id,
              added_at: row.added_at,
              verification_token: row.verification_token,
              verified_at: null,
              revision: row.revision,
              position: row.position,
            })
            .where('tenant_domain.revision', '<', row.revision),
        )
        .execute();
      return;
    }
    if (event.type === 'TenantDomainVerified') {
      await db
        .updateTable('tenant_domain')
        .set({
          verified_at: new Date(event.data.at),
          revision: event.revision,
          position: event.position.toString(),
        })
        .where('domain', '=', event.data.domain)
        .where('revision', '<', event.revision)
        .execute();
      return;
    }
    await db
      .deleteFrom('tenant_domain')
      .where('domain', '=', event.data.domain)
      .where('revision', '<', event.revision)
      .execute();
  },
});
