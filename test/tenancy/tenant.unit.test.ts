import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fold } from '../../src/commands/kernel/decider.ts';
import { DomainError } from '../../src/commands/kernel/errors.ts';
import {
  planIds,
  SIGNUP_AWAITING_APPROVAL,
  type TenancyEvent,
  type TenantCommand,
  TenantSlug,
  tenancyEventSchemas,
  tenantDecider,
} from '../../src/commands/tenancy/index.ts';
import { specFor } from '../support/decider-spec.ts';

const spec = specFor(tenantDecider);
const at = '2026-11-23T10:00:00.000Z';
const later = '2026-11-23T11:00:00.000Z';
const tenantId = '0b7c6d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e';
const created: TenancyEvent = {
  type: 'TenantCreated',
  data: { tenantId, slug: 'acme', name: 'Acme', plan: 'free', at },
};

describe('tenant decider', () => {
  it('creates a tenant that does not exist', () => {
    spec
      .given([])
      .when({ type: 'CreateTenant', tenantId, slug: 'acme', name: 'Acme', plan: 'free', at })
      .thenEvents([created]);
  });

  it('creates a sign-up awaiting approval suspended, in the same append', () => {
    spec
      .given([])
      .when({
        type: 'CreateTenant',
        tenantId,
        slug: 'acme',
        name: 'Acme',
        plan: 'free',
        at,
        awaitingApproval: true,
      })
      .thenEvents([
        created,
        { type: 'TenantSuspended', data: { tenantId, reason: SIGNUP_AWAITING_APPROVAL, at } },
      ]);
    spec
      .given([created, { type: 'TenantSuspended', data: { tenantId, reason: SIGNUP_AWAITING_APPROVAL, at } }])
      .when({ type: 'ReactivateTenant', at: later })
      .thenEvents([{ type: 'TenantReactivated', data: { tenantId, at: later } }]);
  });

  it('refuses to create a tenant twice (the slug is taken)', () => {
    spec
      .given([created])
      .when({ type: 'CreateTenant', tenantId, slug: 'acme', name: 'Other', plan: 'free', at })
      .thenFails('CONFLICT');
  });

  it('renames and changes plan in one update, and records only what changed', () => {
    spec
      .given([created])
      .when({ type: 'UpdateTenant', name: 'Acme Corp', plan: 'premium', at: later })
      .thenEvents([
        { type: 'TenantRenamed', data: { tenantId, name: 'Acme Corp', at: later } },
        { type: 'TenantPlanChanged', data: { tenantId, from: 'free', to: 'premium', at: later } },
      ]);
    spec
      .given([created])
      .when({ type: 'UpdateTenant', name: 'Acme', plan: 'free', at: later })
      .thenEvents([]);
  });

  it('suspends and reactivates; repeating either changes nothing', () => {
    const suspended: TenancyEvent = {
      type: 'TenantSuspended',
      data: { tenantId, reason: 'unpaid', at: later },
    };
    spec
      .given([created])
      .when({ type: 'SuspendTenant', reason: 'unpaid', at: later })
      .thenEvents([suspended]);
    spec
      .given([created, suspended])
      .when({ type: 'SuspendTenant', reason: 'again', at: later })
      .thenEvents([]);
    spec
      .given([created, suspended])
      .when({ type: 'ReactivateTenant', at: later })
      .thenEvents([{ type: 'TenantReactivated', data: { tenantId, at: later } }]);
    spec.given([created]).when({ type: 'ReactivateTenant', at: later }).thenEvents([]);
  });

  it('treats a missing or deleted tenant as not found', () => {
    spec.given([]).when({ type: 'UpdateTenant', name: 'X', at }).thenFails('NOT_FOUND');
    const deleted: TenancyEvent = { type: 'TenantDeleted', data: { tenantId, at: later } };
    spec.given([created, deleted]).when({ type: 'SuspendTenant', reason: 'x', at }).thenFails('NOT_FOUND');
  });

  it('never deletes the default tenant', () => {
    const def: TenancyEvent = { ...created, data: { ...created.data, slug: 'default' } } as TenancyEvent;
    spec.given([def]).when({ type: 'DeleteTenant', at }).thenFails('RULE_VIOLATED', 'default_tenant');
  });

  it('folds its events into the state', () => {
    const state = fold(tenantDecider, [
      created,
      { type: 'TenantPlanChanged', data: { tenantId, from: 'free', to: 'basic', at: later } },
    ]);
    expect(state).toMatchObject({
      exists: true,
      slug: 'acme',
      plan: 'basic',
      status: 'active',
      updatedAt: later,
    });
  });
});

describe('tenant slug rules', () => {
  it.each(['acme', 'a1b', 'team-42', 'x'.repeat(40)])('accepts %s', (slug) => {
    expect(TenantSlug.safeParse(slug).success).toBe(true);
  });
  it.each(['ab', 'x'.repeat(41), 'Acme', 'a_b', '-ab', 'ab-', 'a--b', 'www', 'admin', 'api', 'a b', 'ünï'])(
    'refuses %s',
    (slug) => {
      expect(TenantSlug.safeParse(slug).success).toBe(false);
    },
  );
});

describe('tenant properties', () => {
  const command = fc.oneof(
    fc.record({
      type: fc.constant('CreateTenant' as const),
      tenantId: fc.constant(tenantId),
      slug: fc.constantFrom('acme', 'default'),
      name: fc.string({ minLength: 1, maxLength: 20 }),
      plan: fc.constantFrom(...planIds),
      at: fc.constant(at),
    }),
    fc.record(
      {
        type: fc.constant('UpdateTenant' as const),
        name: fc.string({ minLength: 1, maxLength: 20 }),
        plan: fc.constantFrom(...planIds),
        at: fc.constant(later),
      },
      { requiredKeys: ['type', 'at'] },
    ),
    fc.record({
      type: fc.constant('SuspendTenant' as const),
      reason: fc.string({ maxLength: 30 }),
      at: fc.constant(later),
    }),
    fc.record({ type: fc.constant('ReactivateTenant' as const), at: fc.constant(later) }),
    fc.record({ type: fc.constant('DeleteTenant' as const), at: fc.constant(later) }),
  ) as fc.Arbitrary<TenantCommand>;

  it('any command sequence yields valid events only, and replaying them gives the same state', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 30 }), (commands) => {
        let state = tenantDecider.initialState();
        const history: TenancyEvent[] = [];
        for (const c of commands) {
          let events: TenancyEvent[];
          try {
            events = tenantDecider.decide(c, state);
          } catch (error) {
            expect(error).toBeInstanceOf(DomainError);
            continue;
          }
          for (const event of events) {
            // Every event decided is valid against the stored contract.
            expect(tenancyEventSchemas[event.type].safeParse(event.data).success).toBe(true);
            state = tenantDecider.evolve(state, event);
            history.push(event);
          }
          // Deleted is final; nothing exists without a creation first.
          if (history.length > 0) expect(history[0]!.type).toBe('TenantCreated');
        }
        expect(fold(tenantDecider, history)).toEqual(state);
        const deletedAt = history.findIndex((e) => e.type === 'TenantDeleted');
        if (deletedAt >= 0) expect(deletedAt).toBe(history.length - 1);
      }),
      { numRuns: 500 },
    );
  });
});
