import {
  type CommandContext,
  type CommandStore,
  handle,
  isWrongExpectedRevision,
  load,
  toNewEvents,
} from '../kernel/index.ts';
import { emailClaimDecider } from './email-claim.ts';
import { emailClaimStreamId, membershipStreamId, usernameClaimStreamId, userStreamId } from './events.ts';
import { membershipDecider } from './membership.ts';
import { isLive, type UserState, userDecider } from './user.ts';
import type { UserIds } from './user-ids.ts';
import { usernameClaimDecider, usernameTaken } from './username-claim.ts';

/*
 * What keeps a tenant's emails and usernames unique and its seats counted: claim streams (one per
 * email, one per username) and the membership stream, which registration, a username change and a
 * user's leaving take and release around the user's own stream.
 */

/** Claims on the membership stream are serialised by the store; under a burst each retry makes progress. */
export const SEAT_ATTEMPTS = 50;

/**
 * A username's claim and whether `userId` may take it: free, already theirs, or held by someone who
 * no longer holds it (left the tenant, changed their username; a claim without a user stream counts
 * as a registration in progress for a while, as an email's does). Anyone else holding it: taken.
 */
export async function usernameHolder(
  store: CommandStore,
  tenantId: string,
  username: string,
  userId: string,
  ids: UserIds,
  at: string,
) {
  const claimId = await ids.usernameClaim(tenantId, username);
  const claim = await load(store, usernameClaimStreamId(claimId), usernameClaimDecider);
  const holder = claim.state.holder;
  let staleHolder: string | undefined;
  if (holder !== null && holder !== userId) {
    const user = await load(store, userStreamId(holder), userDecider);
    // Claimed but not yet recorded on the user (a change or registration in progress) counts as held
    // for a while: only a holder who left, or whose change died half-way long ago, gives it up.
    const recent = Date.parse(at) - Date.parse(claim.state.claimedAt) < UNFINISHED_CLAIM_MS;
    const live = isLive(user.state) && user.state.tenantId === tenantId;
    const holds = live && (user.state.usernameClaimId === claimId || recent);
    const unfinished = user.revision < 0 && recent;
    if (holds || unfinished) throw usernameTaken();
    staleHolder = holder;
  }
  const events = usernameClaimDecider.decide(
    { type: 'ClaimUsername', claimId, tenantId, userId, staleHolder, at },
    claim.state,
  );
  return { claimId, events, expected: claim.revision < 0 ? ('no_stream' as const) : claim.revision };
}

/** Appends a username claim decided by `usernameHolder`; losing a race to it is "taken". */
export async function claimUsername(
  store: CommandStore,
  claim: Awaited<ReturnType<typeof usernameHolder>>,
  context: CommandContext,
) {
  if (claim.events.length === 0) return;
  try {
    await store.append(
      usernameClaimStreamId(claim.claimId),
      await toNewEvents(claim.events, { metadata: context.metadata }),
      { expected: claim.expected },
    );
  } catch (error) {
    if (isWrongExpectedRevision(error)) throw usernameTaken();
    throw error;
  }
}

export async function releaseUsername(
  store: CommandStore,
  claimId: string,
  userId: string,
  at: string,
  context: CommandContext,
) {
  await handle(
    store,
    usernameClaimStreamId(claimId),
    usernameClaimDecider,
    { type: 'ReleaseUsername', userId, at },
    { metadata: context.metadata, maxAttempts: SEAT_ATTEMPTS },
  );
}

/**
 * How long a claim whose holder has no user stream yet counts as a registration in progress (hashing,
 * seat, append). After that the registration is taken to have died half-way and the claim as free.
 */
const UNFINISHED_CLAIM_MS = 5 * 60_000;

/**
 * The email claim and the user holding it, or the legacy user found under a derived id (registered
 * before email claims). `live` is that user when they still hold the email; `staleHolder` is a claim
 * holder who left (removed, rejected, a registration that died half-way), whose claim may be taken over.
 */
export async function emailHolder(
  store: CommandStore,
  tenantId: string,
  email: string,
  ids: UserIds,
  /** The registration's time; absent for a lookup, which needs no stale holder. */
  at?: string,
) {
  const candidates = await ids.candidates(tenantId, email);
  const claimId = candidates[0];
  const claim = await load(store, emailClaimStreamId(claimId), emailClaimDecider);
  const holder = claim.state.holder;
  const inTenant = (state: UserState) => isLive(state) && state.tenantId === tenantId;
  let staleHolder: string | undefined;
  if (holder !== null) {
    const user = await load(store, userStreamId(holder), userDecider);
    if (inTenant(user.state)) return { claimId, claim, live: { userId: holder, ...user } };
    const unfinished =
      user.revision < 0 &&
      (at === undefined || Date.parse(at) - Date.parse(claim.state.claimedAt) < UNFINISHED_CLAIM_MS);
    if (!unfinished) staleHolder = holder;
  }
  for (const legacyId of candidates) {
    const user = await load(store, userStreamId(legacyId), userDecider);
    if (inTenant(user.state) && user.state.emailClaimId === null) {
      return { claimId, claim, live: { userId: legacyId, ...user } };
    }
  }
  return { claimId, claim, live: undefined, staleHolder };
}

export async function releaseEmail(
  store: CommandStore,
  claimId: string,
  userId: string,
  at: string,
  context: CommandContext,
) {
  await handle(
    store,
    emailClaimStreamId(claimId),
    emailClaimDecider,
    { type: 'ReleaseEmail', userId, at },
    { metadata: context.metadata, maxAttempts: SEAT_ATTEMPTS },
  );
}

export async function releaseSeat(
  store: CommandStore,
  tenantId: string,
  userId: string,
  at: string,
  context: CommandContext,
) {
  await handle(
    store,
    membershipStreamId(tenantId),
    membershipDecider,
    { type: 'ReleaseSeat', tenantId, userId, at },
    { metadata: context.metadata, maxAttempts: SEAT_ATTEMPTS },
  );
}
