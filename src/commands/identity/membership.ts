import type { Decider } from '../kernel/index.ts';
import { forbidden, ruleViolated, validated } from '../kernel/index.ts';
import { identityEventSchemas, type MembershipEvent, type SignupPolicy } from './events.ts';

export interface MembershipState {
  /** null until set: the handler then applies the configured default. */
  policy: SignupPolicy | null;
  /** Users holding a seat (active or pending approval): the plan's user limit counts these. */
  seats: ReadonlySet<string>;
  /** Active owners: a tenant that has one keeps at least one. */
  owners: ReadonlySet<string>;
}

export type MembershipCommand =
  | { type: 'SetSignupPolicy'; tenantId: string; policy: SignupPolicy; at: string }
  /** `maxUsers` is the tenant plan's limit (null: unlimited), read by the handler. */
  | { type: 'ClaimSeat'; tenantId: string; userId: string; maxUsers: number | null; at: string }
  | { type: 'ReleaseSeat'; tenantId: string; userId: string; at: string }
  | { type: 'ClaimOwnership'; tenantId: string; userId: string; at: string }
  /** Refused (rule `last_owner`) when `userId` is the tenant's only owner. */
  | { type: 'ReleaseOwnership'; tenantId: string; userId: string; at: string };

/** The refusal of a self-registration in a tenant whose sign-up is closed (invitation only). */
export const signupClosed = () => forbidden('sign-up is closed in this tenant: ask for an invitation');

/** Refuses (rule `user_limit`) when every seat the plan allows (null: unlimited) is taken. */
export function assertSeatFree(state: MembershipState, maxUsers: number | null): void {
  if (maxUsers !== null && state.seats.size >= maxUsers) {
    throw ruleViolated('user_limit', `the plan allows ${maxUsers} users in this tenant`);
  }
}

/**
 * Refuses a self-registration as any new email would be refused, without looking at the email: a
 * closed tenant first, then a full one. So a taken email cannot be told from a free one by these.
 */
export function assertSignupAdmitted(
  policy: SignupPolicy,
  state: MembershipState,
  maxUsers: number | null,
): void {
  if (policy === 'closed') throw signupClosed();
  assertSeatFree(state, maxUsers);
}

const initialState = (): MembershipState => ({ policy: null, seats: new Set(), owners: new Set() });

function decide(command: MembershipCommand, state: MembershipState): MembershipEvent[] {
  const { tenantId, at } = command;
  switch (command.type) {
    case 'SetSignupPolicy':
      if (state.policy === command.policy) return [];
      return [{ type: 'SignupPolicySet', data: { tenantId, policy: command.policy, at } }];
    case 'ClaimSeat':
      // A claim is per user, so concurrent registrations of one email share one seat.
      if (state.seats.has(command.userId)) return [];
      assertSeatFree(state, command.maxUsers);
      return [{ type: 'SeatClaimed', data: { tenantId, userId: command.userId, at } }];
    case 'ReleaseSeat':
      if (!state.seats.has(command.userId)) return [];
      return [{ type: 'SeatReleased', data: { tenantId, userId: command.userId, at } }];
    case 'ClaimOwnership':
      if (state.owners.has(command.userId)) return [];
      return [{ type: 'OwnershipClaimed', data: { tenantId, userId: command.userId, at } }];
    case 'ReleaseOwnership':
      if (!state.owners.has(command.userId)) return [];
      if (state.owners.size === 1) {
        throw ruleViolated('last_owner', 'the tenant must keep an owner: make another user owner first');
      }
      return [{ type: 'OwnershipReleased', data: { tenantId, userId: command.userId, at } }];
  }
}

function evolve(state: MembershipState, event: MembershipEvent): MembershipState {
  switch (event.type) {
    case 'SignupPolicySet':
      return { ...state, policy: event.data.policy };
    case 'SeatClaimed':
      return { ...state, seats: new Set(state.seats).add(event.data.userId) };
    case 'SeatReleased': {
      const seats = new Set(state.seats);
      seats.delete(event.data.userId);
      return { ...state, seats };
    }
    case 'OwnershipClaimed':
      return { ...state, owners: new Set(state.owners).add(event.data.userId) };
    case 'OwnershipReleased': {
      const owners = new Set(state.owners);
      owners.delete(event.data.userId);
      return { ...state, owners };
    }
    default:
      return state;
  }
}

/**
 * A tenant's membership: its sign-up policy and its seats. Every registration claims a seat here
 * with the stream's expected revision before it writes the user, so the plan's limit holds under
 * concurrency (the store serialises claims); a registration that then loses releases its seat.
 */
export const membershipDecider: Decider<MembershipCommand, MembershipEvent, MembershipState> = validated(
  {
    initialState,
    decide,
    evolve,
    // One stream per tenant, grown by every user it ever had and read by every registration: folded
    // whole each time it cost O(users²) a registration (bench:scale). Kept between loads: its events
    // name users by id only (no personal fields), and `evolve` copies what it changes.
    snapshots: true,
  },
  identityEventSchemas,
);
