import { deriveId } from '../kernel/index.ts';

/**
 * What follows from (tenant, lowercased email). The first candidate is the id of the email's claim
 * stream (`emailClaimStreamId`): concurrent registrations of one email race for that one stream and
 * the store's expected revision lets exactly one win, and sign-in finds the holder without an email
 * index. A user's own id is random, never derived. Every candidate (the keyed derivation, then the
 * older unkeyed one) is also an id under which a user registered before email claims was stored:
 * they are still searched, so those users keep their accounts and ids.
 */
export interface UserIds {
  candidates(tenantId: string, email: string): Promise<readonly [string, ...string[]]>;
  /** The id of a username's claim stream: derived from (tenant, lowercased username), keyed like emails'. */
  usernameClaim(tenantId: string, username: string): Promise<string>;
}

/**
 * The unkeyed derivation (a v5 UUID of tenant and email). Anyone holding the events and an email can
 * recompute it, so it would re-link an erased person's pseudonymous history: the service uses a
 * keyed derivation (`keyedUserIds`), this one only to find users registered before it.
 */
export const userIdFor = (tenantId: string, email: string) =>
  deriveId('warden.identity.user', tenantId, email.toLowerCase());

export const unkeyedUserIds: UserIds = {
  candidates: async (tenantId, email) => [await userIdFor(tenantId, email)],
  usernameClaim: async (tenantId, username) =>
    deriveId('warden.identity.username', tenantId, username.toLowerCase()),
};

/** A keyed derivation first, the unkeyed one after it (users registered before keyed ids). */
export function keyedUserIds(derive: (tenantId: string, email: string) => Promise<string>): UserIds {
  return {
    candidates: async (tenantId, email) => {
      const lower = email.toLowerCase();
      return [await derive(tenantId, lower), await userIdFor(tenantId, lower)];
    },
    // A username has no `@` and every email has one: the two never derive the same claim id.
    usernameClaim: (tenantId, username) => derive(tenantId, `username:${username.toLowerCase()}`),
  };
}
