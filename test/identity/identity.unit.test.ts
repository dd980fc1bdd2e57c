import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Email,
  emailClaimDecider,
  type MembershipCommand,
  type MembershipEvent,
  membershipDecider,
  type UserCommand,
  type UserEvent,
  userDecider,
} from '../../src/commands/identity/index.ts';
import { assertSignupAdmitted } from '../../src/commands/identity/membership.ts';
import { fold } from '../../src/commands/kernel/decider.ts';
import { DomainError } from '../../src/commands/kernel/errors.ts';
import { specFor } from '../support/decider-spec.ts';

const spec = specFor(userDecider);
const seats = specFor(membershipDecider);
const at = '2026-11-23T10:00:00.000Z';
const tenantId = '0b7c6d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e';
const userId = '1c8d7e4f-2a3b-4c5d-9e0f-1a2b3c4d5e6f';
const otherUserId = '2d9e8f50-3b4c-4d5e-8f60-1a2b3c4d5e6f';
const emailClaimId = '3e0f9a61-4c5d-8e6f-9a71-2b3c4d5e6f70';
const register = (over: Partial<Extract<UserCommand, { type: 'RegisterUser' }>> = {}): UserCommand => ({
  type: 'RegisterUser',
  userId,
  tenantId,
  email: 'ada@example.com',
  name: 'Ada',
  role: 'member',
  passwordHash: '$argon2id$hash',
  emailClaimId,
  via: 'signup',
  policy: 'open',
  at,
  ...over,
});
const registered = (status: 'active' | 'pending_approval' = 'active'): UserEvent => ({
  type: 'UserRegistered',
  data: {
    userId,
    tenantId,
    email: 'ada@example.com',
    name: 'Ada',
    role: 'member',
    status,
    passwordHash: '$argon2id$hash',
    emailClaimId,
    at,
  },
});

/** A self-registration under the open policy: active, its email to be verified through a link. */
const unverified = (): UserEvent => {
  const event = registered('active');
  return { ...event, data: { ...event.data, emailVerified: false } } as UserEvent;
};

describe('user decider', () => {
  it('registers an active user under an open sign-up policy, its email unverified', () => {
    spec.given([]).when(register()).thenEvents([unverified()]);
  });

  it('gives no role to an unverified user (rule email_unverified), and does once the link is used', () => {
    const tokenHash = 'a'.repeat(64);
    spec
      .given([unverified()])
      .when({ type: 'ChangeRole', role: 'admin', actorIsOwner: true, at })
      .thenFails('RULE_VIOLATED');
    const sent: UserEvent = {
      type: 'EmailVerificationRequested',
      data: { userId, tenantId, tokenHash, expiresAt: '2026-11-24T00:00:00.000Z', at },
    };
    spec
      .given([unverified(), sent])
      .when({ type: 'VerifyEmail', tokenHash: 'b'.repeat(64), at })
      .thenFails('RULE_VIOLATED');
    spec
      .given([unverified(), sent])
      .when({ type: 'VerifyEmail', tokenHash, at: '2026-11-24T00:00:00.000Z' })
      .thenFails('RULE_VIOLATED');
    spec
      .given([unverified(), sent])
      .when({ type: 'VerifyEmail', tokenHash, at })
      .thenEvents([{ type: 'EmailVerified', data: { userId, tenantId, at } }]);
    spec
      .given([unverified(), sent, { type: 'EmailVerified', data: { userId, tenantId, at } }])
      .when({ type: 'VerifyEmail', tokenHash, at })
      .thenFails('RULE_VIOLATED');
  });

  it('resets a password with the latest link once, before it expires', () => {
    const requested = (tokenHash: string): UserEvent => ({
      type: 'PasswordResetRequested',
      data: {
        userId,
        tenantId,
        tokenHash,
        expiresAt: '2026-11-24T00:00:00.000Z',
        by: userId,
        forced: false,
        at,
      },
    });
    const reset: UserEvent = { type: 'PasswordReset', data: { userId, tenantId, passwordHash: '$new', at } };
    const first = '1'.repeat(64);
    const second = '2'.repeat(64);
    spec
      .given([registered(), requested(first)])
      .when({ type: 'ResetPassword', tokenHash: first, passwordHash: '$new', at })
      .thenEvents([reset]);
    spec
      .given([registered(), requested(first), requested(second)])
      .when({ type: 'ResetPassword', tokenHash: first, passwordHash: '$new', at })
      .thenFails('RULE_VIOLATED');
    spec
      .given([registered(), requested(first), reset])
      .when({ type: 'ResetPassword', tokenHash: first, passwordHash: '$new', at })
      .thenFails('RULE_VIOLATED');
    spec
      .given([registered(), requested(first)])
      .when({ type: 'ResetPassword', tokenHash: first, passwordHash: '$new', at: '2026-11-24T00:00:00.000Z' })
      .thenFails('RULE_VIOLATED');
  });

  it('records when the credentials last changed: a new password, a reset, an admin-forced reset link (not a self-service one)', () => {
    const later = (minutes: number) => new Date(Date.parse(at) + minutes * 60_000).toISOString();
    const link = (forced: boolean, when: string): UserEvent => ({
      type: 'PasswordResetRequested',
      data: {
        userId,
        tenantId,
        tokenHash: '3'.repeat(64),
        expiresAt: later(600),
        by: userId,
        forced,
        at: when,
      },
    });
    const stateAfter = (events: UserEvent[]) => fold(userDecider, events).credentialsChangedAt;
    expect(stateAfter([registered()])).toBeNull();
    expect(stateAfter([registered(), link(false, later(1))])).toBeNull();
    expect(stateAfter([registered(), link(true, later(1))])).toBe(later(1));
    expect(
      stateAfter([
        registered(),
        { type: 'PasswordChanged', data: { userId, tenantId, passwordHash: '$new', at: later(2) } },
        link(false, later(3)),
      ]),
    ).toBe(later(2));
    expect(
      stateAfter([
        registered(),
        link(false, later(1)),
        { type: 'PasswordReset', data: { userId, tenantId, passwordHash: '$new', at: later(4) } },
      ]),
    ).toBe(later(4));
  });

  it('registers a user pending approval under the approval policy', () => {
    spec
      .given([])
      .when(register({ policy: 'approval' }))
      .thenEvents([registered('pending_approval')]);
  });

  it('refuses sign-up when the tenant is closed (invitation only), but an admin may still add users', () => {
    spec
      .given([])
      .when(register({ policy: 'closed' }))
      .thenFails('FORBIDDEN');
    spec
      .given([])
      .when(register({ policy: 'closed', via: 'admin' }))
      .thenEvents([registered('active')]);
  });

  it('marks the platform superadmin only when an admin path (the bootstrap) asks; sign-up never can', () => {
    const event = registered();
    spec
      .given([])
      .when(register({ via: 'admin', platformSuperadmin: true }))
      .thenEvents([{ ...event, data: { ...event.data, platformSuperadmin: true } } as UserEvent]);
    spec
      .given([])
      .when(register({ platformSuperadmin: true }))
      .thenEvents([unverified()]);
  });

  it('refuses a second registration of a live user (the email is taken)', () => {
    spec.given([registered()]).when(register()).thenFails('CONFLICT');
    spec
      .given([registered('pending_approval')])
      .when(register())
      .thenFails('CONFLICT');
  });

  it('lets a removed user register again', () => {
    spec
      .given([
        registered(),
        { type: 'UserRemoved', data: { userId, tenantId, email: 'ada@example.com', at } },
      ])
      .when(register())
      .thenEvents([unverified()]);
  });

  it('approves or rejects a pending user, and refuses to approve an active one (409)', () => {
    spec
      .given([registered('pending_approval')])
      .when({ type: 'ApproveUser', at })
      .thenEvents([{ type: 'UserApproved', data: { userId, tenantId, at } }]);
    spec
      .given([registered('pending_approval')])
      .when({ type: 'RejectUser', at })
      .thenEvents([{ type: 'UserRejected', data: { userId, tenantId, at } }]);
    spec
      .given([registered('active')])
      .when({ type: 'ApproveUser', at })
      .thenFails('CONFLICT');
  });

  it('changes a role; only an owner grants or takes the owner role; the same role is no change', () => {
    spec
      .given([registered()])
      .when({ type: 'ChangeRole', role: 'admin', actorIsOwner: false, at })
      .thenEvents([{ type: 'UserRoleChanged', data: { userId, tenantId, from: 'member', to: 'admin', at } }]);
    spec
      .given([registered()])
      .when({ type: 'ChangeRole', role: 'owner', actorIsOwner: false, at })
      .thenFails('FORBIDDEN');
    spec
      .given([registered()])
      .when({ type: 'ChangeRole', role: 'member', actorIsOwner: true, at })
      .thenEvents([]);
  });

  it('removes a user with an event that carries the email; a removed user is not found', () => {
    const removed: UserEvent = {
      type: 'UserRemoved',
      data: { userId, tenantId, email: 'ada@example.com', at },
    };
    spec.given([registered()]).when({ type: 'RemoveUser', actorIsOwner: false, at }).thenEvents([removed]);
    spec
      .given([registered(), removed])
      .when({ type: 'RemoveUser', actorIsOwner: false, at })
      .thenFails('NOT_FOUND');
    spec.given([]).when({ type: 'ApproveUser', at }).thenFails('NOT_FOUND');
  });

  describe('only an owner (or the platform superadmin) touches an owner', () => {
    const ownerRegistered = (): UserEvent => {
      const event = registered();
      return { ...event, data: { ...event.data, role: 'owner' } } as UserEvent;
    };
    const ownerRemoved: UserEvent = {
      type: 'UserRemoved',
      data: { userId, tenantId, email: 'ada@example.com', at },
    };
    const by = '2d9e8f5a-3b4c-4d5e-8f0a-2b3c4d5e6f7a';

    it('refuses an admin removing an owner; an owner removes one', () => {
      spec
        .given([ownerRegistered()])
        .when({ type: 'RemoveUser', actorIsOwner: false, at })
        .thenFails('FORBIDDEN');
      spec
        .given([ownerRegistered()])
        .when({ type: 'RemoveUser', actorIsOwner: true, at })
        .thenEvents([ownerRemoved]);
    });

    it('refuses an admin demoting an owner; an owner demotes one', () => {
      spec
        .given([ownerRegistered()])
        .when({ type: 'ChangeRole', role: 'member', actorIsOwner: false, at })
        .thenFails('FORBIDDEN');
      spec
        .given([ownerRegistered()])
        .when({ type: 'ChangeRole', role: 'admin', actorIsOwner: true, at })
        .thenEvents([
          { type: 'UserRoleChanged', data: { userId, tenantId, from: 'owner', to: 'admin', at } },
        ]);
    });

    it('refuses an admin erasing an owner, even a removed one; an owner erases one', () => {
      spec
        .given([ownerRegistered(), ownerRemoved])
        .when({ type: 'ErasePersonalData', by, actorIsOwner: false, at })
        .thenFails('FORBIDDEN');
      spec
        .given([ownerRegistered(), ownerRemoved])
        .when({ type: 'ErasePersonalData', by, actorIsOwner: true, at })
        .thenEvents([{ type: 'PersonalDataErased', data: { userId, tenantId, by, at } }]);
    });

    it('lets an admin remove and erase a user who is not an owner', () => {
      const removed: UserEvent = {
        type: 'UserRemoved',
        data: { userId, tenantId, email: 'ada@example.com', at },
      };
      spec
        .given([registered(), removed])
        .when({ type: 'ErasePersonalData', by, actorIsOwner: false, at })
        .thenEvents([{ type: 'PersonalDataErased', data: { userId, tenantId, by, at } }]);
    });
  });

  it('answers a closed sign-up with FORBIDDEN whether or not the email is taken', () => {
    spec
      .given([registered()])
      .when(register({ policy: 'closed' }))
      .thenFails('FORBIDDEN');
    spec
      .given([registered()])
      .when(register({ policy: 'open' }))
      .thenFails('CONFLICT');
  });

  it('refuses events that break the contract (a malformed email) with INVALID', () => {
    spec
      .given([])
      .when(register({ email: 'not-an-email' }))
      .thenFails('INVALID');
  });
});

describe('email claim decider (who holds an email of a tenant)', () => {
  const claims = specFor(emailClaimDecider);
  const claim = (who: string, staleHolder?: string) => ({
    type: 'ClaimEmail' as const,
    claimId: emailClaimId,
    tenantId,
    userId: who,
    ...(staleHolder === undefined ? {} : { staleHolder }),
    at,
  });
  const claimed = (who: string) => ({
    type: 'EmailClaimed' as const,
    data: { claimId: emailClaimId, tenantId, userId: who, at },
  });
  const released = (who: string) => ({
    type: 'EmailReleased' as const,
    data: { claimId: emailClaimId, tenantId, userId: who, at },
  });

  it('is claimed by the first user; another user is refused while the holder is there', () => {
    claims
      .given([])
      .when(claim(userId))
      .thenEvents([claimed(userId)]);
    claims
      .given([claimed(userId)])
      .when(claim(otherUserId))
      .thenFails('CONFLICT');
    claims
      .given([claimed(userId)])
      .when(claim(userId))
      .thenEvents([]);
  });

  it('once released, or when the handler found the holder gone, goes to a new user (a new id)', () => {
    claims
      .given([claimed(userId), released(userId)])
      .when(claim(otherUserId))
      .thenEvents([claimed(otherUserId)]);
    claims
      .given([claimed(userId)])
      .when(claim(otherUserId, userId))
      .thenEvents([released(userId), claimed(otherUserId)]);
    // Naming a holder who is not the current one frees nothing.
    claims
      .given([claimed(userId)])
      .when(claim(otherUserId, otherUserId))
      .thenFails('CONFLICT');
  });

  it('is released only by its holder, once', () => {
    claims
      .given([claimed(userId)])
      .when({ type: 'ReleaseEmail', userId, at })
      .thenEvents([released(userId)]);
    claims
      .given([claimed(userId), released(userId)])
      .when({ type: 'ReleaseEmail', userId, at })
      .thenEvents([]);
    claims
      .given([claimed(userId)])
      .when({ type: 'ReleaseEmail', userId: otherUserId, at })
      .thenEvents([]);
  });
});

describe('email normalisation', () => {
  it('trims and lowercases, and refuses what is not an email', () => {
    expect(Email.parse('  Ada.Lovelace@Example.COM ')).toBe('ada.lovelace@example.com');
    expect(Email.safeParse('ada@').success).toBe(false);
    expect(Email.safeParse(`${'a'.repeat(250)}@x.io`).success).toBe(false);
  });
});

describe('membership decider (sign-up policy and seats)', () => {
  const claim = (id: string, maxUsers: number | null): MembershipCommand => ({
    type: 'ClaimSeat',
    tenantId,
    userId: id,
    maxUsers,
    at,
  });
  const claimed = (id: string): MembershipEvent => ({
    type: 'SeatClaimed',
    data: { tenantId, userId: id, at },
  });

  it('claims a seat while the plan has room, and refuses the one over the limit', () => {
    seats
      .given([])
      .when(claim(userId, 1))
      .thenEvents([claimed(userId)]);
    seats
      .given([claimed(userId)])
      .when(claim(tenantId, 1))
      .thenFails('RULE_VIOLATED', 'user_limit');
    seats
      .given([claimed(userId)])
      .when(claim(tenantId, null))
      .thenEvents([claimed(tenantId)]);
  });

  it('admits a sign-up by the policy first, then the seats, whatever the email (closed 403, full user_limit)', () => {
    const full = fold(membershipDecider, [claimed(userId)]);
    const code = (f: () => void) => {
      try {
        f();
        return 'admitted';
      } catch (error) {
        return error instanceof DomainError ? `${error.code} ${error.detail.rule ?? ''}`.trim() : 'other';
      }
    };
    expect(code(() => assertSignupAdmitted('closed', full, 1))).toBe('FORBIDDEN');
    expect(code(() => assertSignupAdmitted('closed', full, null))).toBe('FORBIDDEN');
    expect(code(() => assertSignupAdmitted('open', full, 1))).toBe('RULE_VIOLATED user_limit');
    expect(code(() => assertSignupAdmitted('approval', full, 1))).toBe('RULE_VIOLATED user_limit');
    expect(code(() => assertSignupAdmitted('open', full, 2))).toBe('admitted');
    expect(code(() => assertSignupAdmitted('approval', full, null))).toBe('admitted');
  });

  it('a second claim for the same user shares its seat (no event, no refusal)', () => {
    seats
      .given([claimed(userId)])
      .when(claim(userId, 1))
      .thenEvents([]);
  });

  it('sets the sign-up policy only when it changes', () => {
    const set: MembershipEvent = { type: 'SignupPolicySet', data: { tenantId, policy: 'approval', at } };
    seats.given([]).when({ type: 'SetSignupPolicy', tenantId, policy: 'approval', at }).thenEvents([set]);
    seats.given([set]).when({ type: 'SetSignupPolicy', tenantId, policy: 'approval', at }).thenEvents([]);
  });

  it('keeps the last owner: releasing the only ownership is refused; with two owners one may go', () => {
    const other = '2d9e8f5a-3b4c-4d5e-8f0a-2b3c4d5e6f7a';
    const claimed = (id: string): MembershipEvent => ({
      type: 'OwnershipClaimed',
      data: { tenantId, userId: id, at },
    });
    const release = (id: string): MembershipCommand => ({
      type: 'ReleaseOwnership',
      tenantId,
      userId: id,
      at,
    });
    seats
      .given([claimed(userId)])
      .when(release(userId))
      .thenFails('RULE_VIOLATED', 'last_owner');
    seats
      .given([claimed(userId), claimed(other)])
      .when(release(userId))
      .thenEvents([{ type: 'OwnershipReleased', data: { tenantId, userId, at } }]);
    seats
      .given([claimed(userId)])
      .when(release(other))
      .thenEvents([]);
    seats
      .given([claimed(userId)])
      .when({ type: 'ClaimOwnership', tenantId, userId, at })
      .thenEvents([]);
  });

  it('property: once a tenant has an owner, no sequence of claims and releases leaves it without one', () => {
    const ids = ['a', 'b', 'c'].map((c) => `${c.repeat(8)}-1111-4111-8111-111111111111`);
    const command = fc.record({
      type: fc.constantFrom('ClaimOwnership' as const, 'ReleaseOwnership' as const),
      tenantId: fc.constant(tenantId),
      userId: fc.constantFrom(...ids),
      at: fc.constant(at),
    });
    fc.assert(
      fc.property(fc.array(command, { maxLength: 40 }), (commands) => {
        const events: MembershipEvent[] = [
          { type: 'OwnershipClaimed', data: { tenantId, userId: ids[0]!, at } },
        ];
        for (const c of commands) {
          const state = fold(membershipDecider, events);
          try {
            events.push(...membershipDecider.decide(c, state));
          } catch (error) {
            expect((error as DomainError).detail.rule).toBe('last_owner');
          }
          expect(fold(membershipDecider, events).owners.size).toBeGreaterThanOrEqual(1);
        }
      }),
    );
  });

  it('property: whatever the sequence of claims and releases, seats never exceed the limit', () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'].map((c) => `${c.repeat(8)}-1111-4111-8111-111111111111`);
    const command = fc.oneof(
      fc.record({
        type: fc.constant('ClaimSeat' as const),
        tenantId: fc.constant(tenantId),
        userId: fc.constantFrom(...ids),
        maxUsers: fc.constant(3 as number | null),
        at: fc.constant(at),
      }),
      fc.record({
        type: fc.constant('ReleaseSeat' as const),
        tenantId: fc.constant(tenantId),
        userId: fc.constantFrom(...ids),
        at: fc.constant(at),
      }),
    );
    fc.assert(
      fc.property(fc.array(command, { maxLength: 40 }), (commands) => {
        const events: MembershipEvent[] = [];
        for (const c of commands) {
          const state = fold(membershipDecider, events);
          try {
            events.push(...membershipDecider.decide(c, state));
          } catch (error) {
            expect(error).toBeInstanceOf(DomainError);
            expect(state.seats.size).toBe(3);
          }
          expect(fold(membershipDecider, events).seats.size).toBeLessThanOrEqual(3);
        }
      }),
    );
  });

  it('property: a user stream only ever moves through legal states, and every event passes its contract', () => {
    const command = fc.oneof(
      fc
        .record({ policy: fc.constantFrom('open' as const, 'approval' as const, 'closed' as const) })
        .map((r) => register({ policy: r.policy })),
      fc.constantFrom<UserCommand>(
        { type: 'ApproveUser', at },
        { type: 'RejectUser', at },
        { type: 'RemoveUser', actorIsOwner: false, at },
        { type: 'RemoveUser', actorIsOwner: true, at },
        { type: 'ChangeRole', role: 'admin', actorIsOwner: false, at },
        { type: 'ChangeRole', role: 'owner', actorIsOwner: true, at },
      ),
    );
    fc.assert(
      fc.property(fc.array(command, { maxLength: 30 }), (commands) => {
        const events: UserEvent[] = [];
        for (const c of commands) {
          const before = fold(userDecider, events);
          let produced: UserEvent[] = [];
          try {
            produced = userDecider.decide(c, before);
          } catch (error) {
            expect(error).toBeInstanceOf(DomainError);
          }
          events.push(...produced);
          const after = fold(userDecider, events);
          if (c.type === 'ApproveUser' && produced.length) expect(before.status).toBe('pending_approval');
          if (produced.some((e) => e.type === 'UserApproved')) expect(after.status).toBe('active');
          if (after.exists) expect(after.email).toBe('ada@example.com');
        }
      }),
    );
  });
});
