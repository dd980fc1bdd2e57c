import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/commands/kernel/errors.ts';
import { monthOf, type PackagesEvent, requestQuotaDecider } from '../../src/commands/packages/index.ts';
import {
  effectiveLimits,
  plans,
  type TenancyEvent,
  tenantDecider,
} from '../../src/commands/tenancy/index.ts';
import { specFor } from '../support/decider-spec.ts';

const tenantId = '0b7c6d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e';
const at = '2026-11-23T10:00:00.000Z';
const created: TenancyEvent = {
  type: 'TenantCreated',
  data: { tenantId, slug: 'acme', name: 'Acme', plan: 'free', at },
};

describe('effective limits', () => {
  it('are the plan’s where nothing overrides them, the override’s elsewhere (null: unlimited)', () => {
    expect(effectiveLimits('basic', {})).toMatchObject({ workspaces: plans.basic.workspaces, maxUsers: 25 });
    expect(effectiveLimits('basic', { workspaces: 0, maxUsers: null })).toMatchObject({
      workspaces: 0,
      maxUsers: null,
      packageRequestsPerMonth: plans.basic.packageRequestsPerMonth,
    });
    // An unknown plan reads as the smallest, never as unlimited.
    expect(effectiveLimits('gold', undefined)).toMatchObject({ maxUsers: plans.free.maxUsers });
  });
});

describe('tenant decider: limit overrides', () => {
  const spec = specFor(tenantDecider);
  it('records the superadmin’s overrides, and nothing when they are the same', () => {
    const overridden: TenancyEvent = {
      type: 'TenantLimitsOverridden',
      data: { tenantId, limits: { workspaces: 3 }, by: 'root', at },
    };
    spec
      .given([created])
      .when({ type: 'OverrideLimits', limits: { workspaces: 3 }, by: 'root', at })
      .thenEvents([overridden]);
    spec
      .given([created, overridden])
      .when({ type: 'OverrideLimits', limits: { workspaces: 3 }, by: 'root', at })
      .thenEvents([]);
    spec
      .given([created, overridden])
      .when({ type: 'OverrideLimits', limits: {}, by: 'root', at })
      .thenEvents([{ type: 'TenantLimitsOverridden', data: { tenantId, limits: {}, by: 'root', at } }]);
  });
  it('refuses overrides of a tenant that does not exist or is deleted', () => {
    spec.given([]).when({ type: 'OverrideLimits', limits: {}, by: 'root', at }).thenFails('NOT_FOUND');
    spec
      .given([created, { type: 'TenantDeleted', data: { tenantId, at } }])
      .when({ type: 'OverrideLimits', limits: { workspaces: 1 }, by: 'root', at })
      .thenFails('NOT_FOUND');
  });
  it('refuses a negative limit against the event contract', () => {
    spec
      .given([created])
      .when({ type: 'OverrideLimits', limits: { maxUsers: -1 }, by: 'root', at })
      .thenFails('INVALID');
  });
});

describe('package requests a month', () => {
  const spec = specFor(requestQuotaDecider);
  const counted = (requestId: string): Extract<PackagesEvent, { type: 'PackageRequestCounted' }> => ({
    type: 'PackageRequestCounted',
    data: { tenantId, month: '2026-11', requestId, limit: 2, at },
  });
  const count = (requestId: string, limit: number | null = 2) => ({
    type: 'CountPackageRequest' as const,
    tenantId,
    month: '2026-11',
    requestId,
    limit,
    at,
  });
  const a = '11111111-1111-4111-8111-111111111111';
  const b = '22222222-2222-4222-8222-222222222222';
  const c = '33333333-3333-4333-8333-333333333333';

  it('counts a request under the limit, once however often it is retried', () => {
    spec
      .given([counted(a)])
      .when(count(b))
      .thenEvents([counted(b)]);
    spec
      .given([counted(a), counted(b)])
      .when(count(a))
      .thenEvents([]);
  });

  it('refuses the one over the limit, naming the quota, the limit and the first of next month', () => {
    const state = [counted(a), counted(b)].reduce(
      requestQuotaDecider.evolve,
      requestQuotaDecider.initialState(),
    );
    let error: unknown;
    try {
      requestQuotaDecider.decide(count(c), state);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('QUOTA_EXCEEDED');
    expect((error as DomainError).detail.quota).toEqual({
      name: 'packageRequestsPerMonth',
      limit: 2,
      resetAt: '2026-12-01T00:00:00.000Z',
      retryAfterSeconds: (Date.parse('2026-12-01T00:00:00.000Z') - Date.parse(at)) / 1000,
    });
  });

  it('never refuses when unlimited, and a month ends on the first of the next, UTC, across a year', () => {
    spec
      .given([counted(a), counted(b)])
      .when(count(c, null))
      .thenEvents([
        {
          type: 'PackageRequestCounted',
          data: { tenantId, month: '2026-11', requestId: c, limit: null, at },
        },
      ]);
    expect(monthOf('2026-12-31T23:59:59.999Z')).toEqual({
      month: '2026-12',
      resetAt: '2027-01-01T00:00:00.000Z',
    });
  });
});
