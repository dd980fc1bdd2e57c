import { describe, it } from 'vitest';
import {
  type UserCommand,
  type UserEvent,
  userDecider,
  usernameClaimDecider,
} from '../../src/commands/identity/index.ts';
import { specFor } from '../support/decider-spec.ts';

const at = '2026-11-23T10:00:00.000Z';
const tenantId = '0b7c6d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e';
const userId = '1c8d7e4f-2a3b-4c5d-9e0f-1a2b3c4d5e6f';
const otherUserId = '2d9e8f50-3b4c-4d5e-8f60-1a2b3c4d5e6f';
const emailClaimId = '3e0f9a61-4c5d-8e6f-9a71-2b3c4d5e6f70';
const claimId = '4f1a0b72-5d6e-8f70-8b82-3c4d5e6f7081';
const registered: UserEvent = {
  type: 'UserRegistered',
  data: {
    userId,
    tenantId,
    email: 'ada@example.com',
    name: 'Ada',
    role: 'member',
    status: 'active',
    passwordHash: '$argon2id$hash',
    emailClaimId,
    at,
  },
};
const usernameSet: UserEvent = {
  type: 'UsernameSet',
  data: { userId, tenantId, username: 'Ada', claimId, at },
};
const setUsername: UserCommand = { type: 'SetUsername', username: 'Ada', claimId, at };

describe('usernames on the user decider', () => {
  const spec = specFor(userDecider);
  it('sets a username on a live user', () => {
    spec.given([registered]).when(setUsername).thenEvents([usernameSet]);
  });
  it('changes nothing when the username is already theirs', () => {
    spec.given([registered, usernameSet]).when(setUsername).thenEvents([]);
  });
  it('refuses a username for a removed user', () => {
    spec
      .given([registered, { type: 'UserRemoved', data: { userId, tenantId, email: 'ada@example.com', at } }])
      .when(setUsername)
      .thenFails('NOT_FOUND');
  });
  it('registers with a username in the same decision', () => {
    spec
      .given([])
      .when({
        type: 'RegisterUser',
        userId,
        tenantId,
        email: 'ada@example.com',
        name: 'Ada',
        role: 'member',
        passwordHash: '$argon2id$hash',
        emailClaimId,
        via: 'admin',
        policy: 'open',
        username: { username: 'Ada', claimId },
        at,
      })
      .thenEvents([registered, usernameSet]);
  });
});

describe('username claim decider', () => {
  const spec = specFor(usernameClaimDecider);
  const claim = (user: string, staleHolder?: string) => ({
    type: 'ClaimUsername' as const,
    claimId,
    tenantId,
    userId: user,
    staleHolder,
    at,
  });
  const claimed = (user: string) => ({
    type: 'UsernameClaimed' as const,
    data: { claimId, tenantId, userId: user, at },
  });
  it('claims a free username', () => {
    spec
      .given([])
      .when(claim(userId))
      .thenEvents([claimed(userId)]);
  });
  it('refuses a username another user holds (rule username_taken)', () => {
    spec
      .given([claimed(otherUserId)])
      .when(claim(userId))
      .thenFails('RULE_VIOLATED', 'username_taken');
  });
  it('takes over from a stale holder the handler named', () => {
    spec
      .given([claimed(otherUserId)])
      .when(claim(userId, otherUserId))
      .thenEvents([
        { type: 'UsernameReleased', data: { claimId, tenantId, userId: otherUserId, at } },
        claimed(userId),
      ]);
  });
  it('releases only for its holder', () => {
    spec
      .given([claimed(otherUserId)])
      .when({ type: 'ReleaseUsername', userId, at })
      .thenEvents([]);
  });
});
