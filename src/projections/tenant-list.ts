import type { Kysely } from 'kysely';
import { type TenancyEvent, tenancyEventTypes } from '../commands/tenancy/index.ts';
import type { RecordedEvent } from '../eventstore/port.ts';
import type { Projection } from './projection.ts';

export interface TenantListTable {
  id: string;
  slug: string;
  name: string;
  plan: string;
  status: string;
  created_at: Date;
  updated_at: Date;
  revision: number;
  position: string;
}

// A type alias (not an interface) so kysely's withTables accepts it.
export type TenantListTables = {
  tenant_list: TenantListTable;
};

/** One row per tenant: the list, filters and slug lookups (tenant resolution) read it. */
export const tenantList: Projection<TenantListTables> = {
  name: 'tenantList',
  version: 1,
  types: tenancyEventTypes,
  tables: ['tenant_list'],
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('tenant_list')
      .addColumn('id', 'uuid', (c) => c.primaryKey())
      .addColumn('slug', 'text', (c) => c.notNull().unique())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('plan', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('tenant_list_created')
      .on('tenant_list')
      .columns(['created_at', 'id'])
      .execute();
  },
  async apply(recorded: RecordedEvent, db: Kysely<TenantListTables>) {
    const event = recorded as unknown as RecordedEvent & TenancyEvent;
    const common = { revision: recorded.revision, position: recorded.position.toString() };
    if (event.type === 'TenantCreated') {
      const { tenantId, slug, name, plan, at } = event.data;
      const at_ = new Date(at);
      await db
        .insertInto('tenant_list')
        .values({
          id: tenantId,
          slug,
          name,
          plan,
          status: 'active',
          created_at: at_,
          updated_at: at_,
          ...common,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      return;
    }
    const changes = ((): Partial<TenantListTable> => {
      switch (event.type) {
        case 'TenantRenamed':
          return { name: event.data.name };
        case 'TenantPlanChanged':
          return { plan: event.data.to };
        case 'TenantSuspended':
          return { status: 'suspended' };
        case 'TenantReactivated':
          return { status: 'active' };
        case 'TenantDeleted':
          return { status: 'deleted' };
      }
    })();
    await db
      .updateTable('tenant_list')
      .set({ ...changes, updated_at: new Date(event.data.at), ...common })
      .where('id', '=', event.data.tenantId)
      .where('revision', '<', recorded.revision)
      .execute();
  },
};
