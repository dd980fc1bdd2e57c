import type { Kysely } from 'kysely';
import type { IdentityEvent } from '../../commands/identity/index.ts';
import { toStorableText } from '../../commands/kernel/index.ts';
import { type TenancyEvent, tenancyEventTypes } from '../../commands/tenancy/index.ts';
import { defineProjection } from '../engine/index.ts';

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
  /** Members holding a seat (active or pending approval): the figure the plan's user limit counts. */
  users: number;
  /** The superadmin's overrides of the plan's limits (`{}`: the plan's hold). */
  limits: unknown;
}

// A type alias (not an interface) so kysely's withTables accepts it.
export type TenantListTables = {
  tenant_list: TenantListTable;
};

/** The identity context's seat events keep the member count (the membership stream is public contract). */
const seatEvents = ['SeatClaimed', 'SeatReleased'] as const;

/** One row per tenant: the list, filters, member counts and slug lookups (tenant resolution) read it. */
export const tenantList = defineProjection<
  TenancyEvent | Extract<IdentityEvent, { type: (typeof seatEvents)[number] }>,
  TenantListTables
>()({
  name: 'tenantList',
  // 4: the index on position (tenant resolution's sync reads the rows changed since its last look).
  version: 4,
  types: [...tenancyEventTypes, ...seatEvents],
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
      .addColumn('users', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('limits', 'jsonb', (c) => c.notNull().defaultTo('{}'))
      .execute();
    await db.schema
      .createIndex('tenant_list_created')
      .on('tenant_list')
      .columns(['created_at', 'id'])
      .execute();
    // Every process's tenant cache asks once a second which rows moved past the position it last saw.
    await db.schema.createIndex('tenant_list_position').on('tenant_list').column('position').execute();
  },
  async apply(event, db) {
    if (event.type === 'SeatClaimed' || event.type === 'SeatReleased') {
      const seat = event;
      await db
        .updateTable('tenant_list')
        .set((eb) => ({ users: eb('users', seat.type === 'SeatClaimed' ? '+' : '-', 1) }))
        .where('id', '=', seat.data.tenantId)
        .execute();
      return;
    }
    const common = { revision: event.revision, position: event.position.toString() };
    if (event.type === 'TenantCreated') {
      const { tenantId, slug, name, plan, at } = event.data;
      const at_ = new Date(at);
      await db
        .insertInto('tenant_list')
        .values({
          id: tenantId,
          slug,
          // Text stored before such input was refused (a NUL, a lone surrogate) must not stop the list.
          name: toStorableText(name),
          plan,
          status: 'active',
          created_at: at_,
          updated_at: at_,
          users: 0,
          limits: '{}',
          ...common,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      return;
    }
    const changes = ((): Partial<TenantListTable> => {
      switch (event.type) {
        case 'TenantRenamed':
          return { name: toStorableText(event.data.name) };
        case 'TenantPlanChanged':
          return { plan: event.data.to };
        case 'TenantSuspended':
          return { status: 'suspended' };
        case 'TenantReactivated':
          return { status: 'active' };
        case 'TenantDeleted':
          return { status: 'deleted' };
        case 'TenantLimitsOverridden':
          return { limits: JSON.stringify(event.data.limits) };
      }
    })();
    await db
      .updateTable('tenant_list')
      .set({ ...changes, updated_at: new Date(event.data.at), ...common })
      .where('id', '=', event.data.tenantId)
      .where('revision', '<', event.revision)
      .execute();
  },
});
