import type { Decider } from '../kernel/index.ts';
import { conflict, notFound, ruleViolated, validated } from '../kernel/index.ts';
import { type TenancyEvent, type TenantStatus, tenancyEventSchemas } from './events.ts';
import type { LimitOverrides } from './limits.ts';
import type { PlanId } from './plans.ts';

/** The suspension reason of a self-service sign-up until the superadmin reactivates (approves) it. */
export const SIGNUP_AWAITING_APPROVAL = 'sign-up awaiting the platform superadmin’s approval';

export interface TenantState {
  exists: boolean;
  tenantId: string;
  slug: string;
  name: string;
  plan: PlanId;
  status: TenantStatus;
  /** The superadmin's overrides of the plan's limits (`effectiveLimits` combines them). */
  limits: LimitOverrides;
  createdAt: string;
  updatedAt: string;
}

/** Commands carry their time (`at`) and ids: `decide` reads no clock. */
export type TenantCommand =
  | {
      type: 'CreateTenant';
      tenantId: string;
      slug: string;
      name: string;
      plan: PlanId;
      at: string;
      /** A self-service sign-up the superadmin must approve: created suspended, in the same append. */
      awaitingApproval?: boolean;
    }
  | { type: 'UpdateTenant'; name?: string; plan?: PlanId; at: string }
  | { type: 'SuspendTenant'; reason: string; at: string }
  | { type: 'ReactivateTenant'; at: string }
  | { type: 'DeleteTenant'; at: string }
  | { type: 'OverrideLimits'; limits: LimitOverrides; by: string; at: string };

const initialState = (): TenantState => ({
  exists: false,
  tenantId: '',
  slug: '',
  name: '',
  plan: 'free',
  status: 'active',
  limits: {},
  createdAt: '',
  updatedAt: '',
});

function decide(command: TenantCommand, state: TenantState): TenancyEvent[] {
  if (command.type === 'CreateTenant') {
    if (state.exists) throw conflict(`tenant "${state.slug}" already exists`);
    const { tenantId, slug, name, plan, at } = command;
    const created: TenancyEvent = { type: 'TenantCreated', data: { tenantId, slug, name, plan, at } };
    if (!command.awaitingApproval) return [created];
    return [created, { type: 'TenantSuspended', data: { tenantId, reason: SIGNUP_AWAITING_APPROVAL, at } }];
  }
  if (!state.exists || state.status === 'deleted') throw notFound('tenant');
  const { tenantId } = state;
  switch (command.type) {
    case 'UpdateTenant': {
      const events: TenancyEvent[] = [];
      if (command.name !== undefined && command.name !== state.name) {
        events.push({ type: 'TenantRenamed', data: { tenantId, name: command.name, at: command.at } });
      }
      if (command.plan !== undefined && command.plan !== state.plan) {
        events.push({
          type: 'TenantPlanChanged',
          data: { tenantId, from: state.plan, to: command.plan, at: command.at },
        });
      }
      return events;
    }
    case 'SuspendTenant':
      if (state.status === 'suspended') return [];
      return [{ type: 'TenantSuspended', data: { tenantId, reason: command.reason, at: command.at } }];
    case 'ReactivateTenant':
      if (state.status === 'active') return [];
      return [{ type: 'TenantReactivated', data: { tenantId, at: command.at } }];
    case 'DeleteTenant':
      if (state.slug === 'default')
        throw ruleViolated('default_tenant', 'the default tenant cannot be deleted');
      return [{ type: 'TenantDeleted', data: { tenantId, at: command.at } }];
    case 'OverrideLimits': {
      const same = (a: LimitOverrides, b: LimitOverrides) =>
        JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
      if (same(command.limits, state.limits)) return [];
      const { limits, by, at } = command;
      return [{ type: 'TenantLimitsOverridden', data: { tenantId, limits, by, at } }];
    }
  }
}

function evolve(state: TenantState, event: TenancyEvent): TenantState {
  switch (event.type) {
    case 'TenantCreated':
      return {
        exists: true,
        tenantId: event.data.tenantId,
        slug: event.data.slug,
        name: event.data.name,
        plan: event.data.plan,
        status: 'active',
        limits: {},
        createdAt: event.data.at,
        updatedAt: event.data.at,
      };
    case 'TenantRenamed':
      return { ...state, name: event.data.name, updatedAt: event.data.at };
    case 'TenantPlanChanged':
      return { ...state, plan: event.data.to, updatedAt: event.data.at };
    case 'TenantSuspended':
      return { ...state, status: 'suspended', updatedAt: event.data.at };
    case 'TenantReactivated':
      return { ...state, status: 'active', updatedAt: event.data.at };
    case 'TenantDeleted':
      return { ...state, status: 'deleted', updatedAt: event.data.at };
    case 'TenantLimitsOverridden':
      return { ...state, limits: event.data.limits, updatedAt: event.data.at };
    default:
      return state;
  }
}

/** The tenant aggregate. Its stream id is derived from the slug, so "slug taken" is a stream conflict. */
/** Only events that satisfy their stored contract leave `decide` (normalised, e.g. trimmed names). */
export const tenantDecider: Decider<TenantCommand, TenancyEvent, TenantState> = validated(
  { initialState, decide, evolve },
  tenancyEventSchemas,
);
