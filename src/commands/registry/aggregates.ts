import {
  emailClaimDecider,
  membershipDecider,
  userDecider,
  usernameClaimDecider,
} from '../identity/index.ts';
import type { DomainEvent } from '../kernel/index.ts';
import { clientDecider, consentDecider } from '../oauth/index.ts';
import { packageDecider, policyDecider, requestDecider, requestQuotaDecider } from '../packages/index.ts';
import { domainDecider, tenantDecider } from '../tenancy/index.ts';
import { executionDecider, targetsDecider } from '../tools/index.ts';
import { issueDecider, projectDecider, savedFiltersDecider } from '../tracker/index.ts';
import {
  agentDecider,
  quotaDecider,
  uploadsDecider,
  workspaceDecider,
  workspaceSettingsDecider,
} from '../workspaces/index.ts';

/**
 * What replay needs of an aggregate: its own `initialState` and `evolve`, and how its state may be
 * shown (`view`, e.g. without a password hash). Keyed by the stream id's entity part
 * (`<context>.<Aggregate>` in `<context>.<Aggregate>-<id>`).
 */
export interface ReplayableAggregate {
  entity: string;
  initialState: () => unknown;
  evolve: (state: unknown, event: DomainEvent) => unknown;
  view: (state: unknown) => unknown;
  /**
   * Whether replay may cache this aggregate's states (snapshots). Off for aggregates holding personal
   * data, so erasing it from the events leaves no decrypted copy behind.
   */
  snapshots: boolean;
  /** Changes whenever the code of `initialState` or `evolve` does: a snapshot made by other code is never used. */
  fingerprint: string;
}

interface Foldable<Event extends DomainEvent, State> {
  initialState: () => State;
  evolve: (state: State, event: Event) => State;
}

/** A state field, or a field of an object-valued state field (`passwordReset.tokenHash`). */
type HiddenField<State> = (keyof State & string) | `${keyof State & string}.${string}`;

/**
 * One registry entry; `hide` names state fields that never leave the service (secrets, and the
 * hashes of secrets: a password's, a link's), top-level or one object down.
 */
export function aggregate<Event extends DomainEvent, State>(
  entity: string,
  decider: Foldable<Event, State>,
  options: { hide?: readonly HiddenField<State>[]; snapshots?: boolean } = {},
): ReplayableAggregate {
  const hidden = options.hide ?? [];
  return {
    entity,
    snapshots: options.snapshots ?? false,
    fingerprint: fingerprint(entity, decider.initialState.toString(), decider.evolve.toString()),
    initialState: decider.initialState,
    evolve: (state, event) => decider.evolve(state as State, event as Event),
    view: (state) => hidden.reduce<unknown>((shown, path) => without(shown, path.split('.')), state),
  };
}

/** `value` without the field at `path`, copied where it changes (the folded state is never touched). */
function without(value: unknown, [key, ...rest]: readonly string[]): unknown {
  if (key === undefined || typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  if (!Object.hasOwn(value, key)) return value;
  const entries = Object.entries(value);
  // fromEntries makes own properties even of keys such as `__proto__`.
  return rest.length === 0
    ? Object.fromEntries(entries.filter(([name]) => name !== key))
    : Object.fromEntries(entries.map(([name, item]) => [name, name === key ? without(item, rest) : item]));
}

/**
 * Every aggregate in `src/commands/*`. Adding one is one line here: its stream ids' entity part and
 * its decider.
 */
export const aggregates: readonly ReplayableAggregate[] = [
  aggregate('tenancy.Tenant', tenantDecider, { snapshots: true }),
  aggregate('tenancy.Domain', domainDecider, { snapshots: true }),
  aggregate('identity.User', userDecider, {
    hide: ['passwordHash', 'emailVerification.tokenHash', 'passwordReset.tokenHash'],
  }),
  aggregate('identity.TenantMembership', membershipDecider),
  aggregate('identity.EmailClaim', emailClaimDecider),
  aggregate('identity.UsernameClaim', usernameClaimDecider),
  aggregate('tracker.Project', projectDecider),
  aggregate('tracker.Issue', issueDecider),
  aggregate('tracker.SavedFilters', savedFiltersDecider),
  aggregate('packages.Package', packageDecider, { snapshots: true }),
  aggregate('packages.Request', requestDecider, { snapshots: true }),
  aggregate('packages.Policy', policyDecider, { snapshots: true }),
  aggregate('packages.RequestQuota', requestQuotaDecider),
  aggregate('oauth.Client', clientDecider, { hide: ['secretHash', 'previousSecretHash'], snapshots: true }),
  aggregate('oauth.Consent', consentDecider),
  aggregate('workspaces.Agent', agentDecider),
  aggregate('workspaces.Workspace', workspaceDecider),
  aggregate('workspaces.Quota', quotaDecider),
  aggregate('workspaces.Settings', workspaceSettingsDecider),
  aggregate('workspaces.Uploads', uploadsDecider),
  aggregate('tools.Execution', executionDecider, { snapshots: true }),
  aggregate('tools.Targets', targetsDecider, { snapshots: true }),
];

/** A short, stable hash of source texts (32-bit FNV-1a, twice with different seeds): no security role. */
export function fingerprint(...parts: readonly string[]): string {
  const text = parts.join('\u0000');
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

/** `tenancy.Tenant-3f…` → `tenancy.Tenant`; a stream id without an id part is its own entity. */
export function entityOf(streamId: string): string {
  const dash = streamId.indexOf('-');
  return dash < 0 ? streamId : streamId.slice(0, dash);
}

/** The aggregate a stream belongs to, by the entity part of its id. */
export function aggregateRegistry(list: readonly ReplayableAggregate[] = aggregates) {
  const byEntity = new Map<string, ReplayableAggregate>();
  for (const entry of list) {
    if (byEntity.has(entry.entity)) throw new Error(`two aggregates registered for ${entry.entity}`);
    byEntity.set(entry.entity, entry);
  }
  return {
    forStream: (streamId: string) => byEntity.get(entityOf(streamId)),
    entities: () => [...byEntity.keys()],
  };
}
export type AggregateRegistry = ReturnType<typeof aggregateRegistry>;
