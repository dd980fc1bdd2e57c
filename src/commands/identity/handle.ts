import {
  aggregate,
  type CommandContext,
  type CommandResult,
  type CommandStore,
  conflict,
  existsInTenant,
  handle,
  isWrongExpectedRevision,
  load,
  notFound,
  toNewEvents,
} from '../kernel/index.ts';
import {
  claimUsername,
  emailHolder,
  releaseEmail,
  releaseSeat,
  releaseUsername,
  SEAT_ATTEMPTS,
  usernameHolder,
} from './claims.ts';
import { emailClaimDecider } from './email-claim.ts';
import {
  emailClaimStreamId,
  membershipStreamId,
  type SignupPolicy,
  type UserRole,
  usernameClaimStreamId,
  userStreamId,
} from './events.ts';
import { assertSignupAdmitted, membershipDecider } from './membership.ts';
import type { PasswordHasher } from './ports.ts';
import { isLive, type UserCommand, type UserState, userDecider } from './user.ts';
import { type UserIds, unkeyedUserIds } from './user-ids.ts';
import { usernameClaimDecider } from './username-claim.ts';

/** Users a tenant sees: live (active or pending) and its own; rejected and removed users are gone. */
const users = aggregate({
  decider: userDecider,
  streamId: userStreamId,
  what: 'user',
  visibleTo: (state: UserState, tenantId) => isLive(state) && state.tenantId === tenantId,
});

/** Users as erasure sees them: rejected and removed users too (their data is still there). */
const everyUser = aggregate({
  decider: userDecider,
  streamId: userStreamId,
  what: 'user',
  visibleTo: existsInTenant,
});

/** The tenant's sign-up policy, or `fallback` (configuration) when none was ever set. */
export async function signupPolicyOf(
  store: CommandStore,
  tenantId: string,
  fallback: SignupPolicy,
): Promise<SignupPolicy> {
  const { state } = await load(store, membershipStreamId(tenantId), membershipDecider);
  return state.policy ?? fallback;
}

/**
 * Refuses a self-registration in `tenantId` as it would be refused for any new email, before any
 * email is looked at: a closed tenant (forbidden), then a full one (rule `user_limit`). The sign-up
 * route asks this first, so neither answer depends on whether the email is taken.
 */
export async function admitSignup(
  store: CommandStore,
  input: { tenantId: string; maxUsers: number | null; defaultPolicy: SignupPolicy },
): Promise<void> {
  const { state } = await load(store, membershipStreamId(input.tenantId), membershipDecider);
  assertSignupAdmitted(state.policy ?? input.defaultPolicy, state, input.maxUsers);
}

export function setSignupPolicy(
  store: CommandStore,
  input: { tenantId: string; policy: SignupPolicy; at: string },
  context: CommandContext,
) {
  return handle(
    store,
    membershipStreamId(input.tenantId),
    membershipDecider,
    { type: 'SetSignupPolicy', ...input },
    context,
  );
}

export interface RegisterUserInput {
  tenantId: string;
  email: string;
  name: string;
  password: string;
  role: UserRole;
  via: 'signup' | 'admin';
  /** The tenant plan's user limit (null: unlimited). */
  maxUsers: number | null;
  /** Policy to apply when the tenant never set one. */
  defaultPolicy: SignupPolicy;
  /** Only with `via: 'admin'`: the first-start bootstrap makes the platform superadmin. */
  platformSuperadmin?: boolean;
  /** The new user's id; a random one when absent (never derived from the email). */
  userId?: string;
  /** Optional: a username, unique in the tenant without regard to case (a taken one: rule `username_taken`). */
  username?: string | undefined;
  at: string;
}

/**
 * Sets (or changes) a live user's username: claims the new one (taken: rule `username_taken`), records
 * `UsernameSet` on the user, then releases the old claim. A refused change appends nothing; if the user
 * change fails after the claim, the claim is released again.
 */
export async function setUsername(
  store: CommandStore,
  input: { tenantId: string; userId: string; username: string; at: string },
  context: CommandContext,
  ids: UserIds = unkeyedUserIds,
): Promise<CommandResult<UserState>> {
  const { tenantId, userId, username, at } = input;
  const before = await users.find(store, tenantId, userId);
  if (!before) throw notFound('user');
  const claim = await usernameHolder(store, tenantId, username, userId, ids, at);
  await claimUsername(store, claim, context);
  let result: CommandResult<UserState>;
  try {
    result = await users.change(
      store,
      tenantId,
      userId,
      { type: 'SetUsername', username, claimId: claim.claimId, at },
      context,
    );
  } catch (error) {
    if (claim.events.length > 0) await releaseUsername(store, claim.claimId, userId, at, context);
    throw error;
  }
  const previous = before.state.usernameClaimId;
  if (previous !== null && previous !== claim.claimId) {
    await releaseUsername(store, previous, userId, at, { metadata: context.metadata });
  }
  return result;
}

/**
 * The user holding `email` in `tenantId` now (active or pending), or undefined: the email's claim
 * first, then, for users registered before email claims, the ids derived from (tenant, email).
 */
export async function findUserByEmail(
  store: CommandStore,
  tenantId: string,
  email: string,
  ids: UserIds = unkeyedUserIds,
): Promise<{ userId: string; state: UserState; revision: number } | undefined> {
  return (await emailHolder(store, tenantId, email.trim().toLowerCase(), ids)).live;
}

/** The live user of `tenantId` holding `username` (any case), or undefined. */
export async function findUserByUsername(
  store: CommandStore,
  tenantId: string,
  username: string,
  ids: UserIds = unkeyedUserIds,
): Promise<{ userId: string; state: UserState; revision: number } | undefined> {
  const claimId = await ids.usernameClaim(tenantId, username.trim());
  const claim = await load(store, usernameClaimStreamId(claimId), usernameClaimDecider);
  const holder = claim.state.holder;
  if (holder === null) return undefined;
  const user = await load(store, userStreamId(holder), userDecider);
  const holds =
    isLive(user.state) && user.state.tenantId === tenantId && user.state.usernameClaimId === claimId;
  return holds ? { userId: holder, state: user.state, revision: user.revision } : undefined;
}

/**
 * Registers a user under a new random id: decide on a fresh user stream (policy?), check the email
 * is free (its claim, or a user registered before claims under a derived id), hash the password, claim
 * a seat on the tenant's membership stream (the plan's limit, under concurrency), claim the email (one
 * stream per (tenant, email): of concurrent registrations exactly one wins), then append the user. A
 * registration that loses after claiming its seat releases it again.
 */
export async function registerUser(
  store: CommandStore,
  hasher: PasswordHasher,
  input: RegisterUserInput,
  context: CommandContext,
  ids: UserIds = unkeyedUserIds,
): Promise<CommandResult<UserState>> {
  const email = input.email.toLowerCase();
  const userId = input.userId ?? crypto.randomUUID();
  const streamId = userStreamId(userId);
  const [holder, policy, loaded] = await Promise.all([
    emailHolder(store, input.tenantId, email, ids, input.at),
    signupPolicyOf(store, input.tenantId, input.defaultPolicy),
    load(store, streamId, userDecider),
  ]);
  if (holder.live) throw conflict('a user with this email already exists in this tenant');
  const { claimId, claim } = holder;
  const claimStream = emailClaimStreamId(claimId);
  const claimEvents = emailClaimDecider.decide(
    {
      type: 'ClaimEmail',
      claimId,
      tenantId: input.tenantId,
      userId,
      staleHolder: holder.staleHolder,
      at: input.at,
    },
    claim.state,
  );
  let usernameClaim: Awaited<ReturnType<typeof usernameHolder>> | undefined;
  const decideWith = (passwordHash: string) =>
    userDecider.decide(
      {
        type: 'RegisterUser',
        userId,
        tenantId: input.tenantId,
        email,
        name: input.name,
        role: input.role,
        passwordHash,
        emailClaimId: claimId,
        via: input.via,
        policy,
        ...(input.platformSuperadmin ? { platformSuperadmin: true } : {}),
        ...(input.username !== undefined && usernameClaim
          ? { username: { username: input.username, claimId: usernameClaim.claimId } }
          : {}),
        at: input.at,
      },
      loaded.state,
    );
  // Refuse a taken email or a closed tenant before paying for a hash or a seat (or a username).
  decideWith('-');
  if (input.username !== undefined) {
    usernameClaim = await usernameHolder(store, input.tenantId, input.username, userId, ids, input.at);
  }
  const events = decideWith(await hasher.hash(input.password));

  await handle(
    store,
    membershipStreamId(input.tenantId),
    membershipDecider,
    { type: 'ClaimSeat', tenantId: input.tenantId, userId, maxUsers: input.maxUsers, at: input.at },
    { metadata: context.metadata, maxAttempts: SEAT_ATTEMPTS },
  );
  try {
    await store.append(claimStream, await toNewEvents(claimEvents, { metadata: context.metadata }), {
      expected: claim.revision < 0 ? 'no_stream' : claim.revision,
    });
  } catch (error) {
    await releaseSeat(store, input.tenantId, userId, input.at, context);
    if (isWrongExpectedRevision(error)) {
      throw conflict('a user with this email already exists in this tenant');
    }
    throw error;
  }
  if (usernameClaim) {
    try {
      await claimUsername(store, usernameClaim, context);
    } catch (error) {
      await releaseEmail(store, claimId, userId, input.at, context);
      await releaseSeat(store, input.tenantId, userId, input.at, context);
      throw error;
    }
  }
  try {
    const result = await store.append(streamId, await toNewEvents(events, { metadata: context.metadata }), {
      expected: loaded.revision < 0 ? 'no_stream' : loaded.revision,
    });
    const state = events.reduce(userDecider.evolve, loaded.state);
    if (state.role === 'owner' && state.status === 'active') {
      await handle(
        store,
        membershipStreamId(input.tenantId),
        membershipDecider,
        { type: 'ClaimOwnership', tenantId: input.tenantId, userId, at: input.at },
        { metadata: context.metadata, maxAttempts: SEAT_ATTEMPTS },
      );
    }
    return {
      state,
      revision: result.revision,
      position: result.position,
      events,
    };
  } catch (error) {
    await releaseEmail(store, claimId, userId, input.at, context);
    if (usernameClaim) await releaseUsername(store, usernameClaim.claimId, userId, input.at, context);
    await releaseSeat(store, input.tenantId, userId, input.at, context);
    if (isWrongExpectedRevision(error)) {
      throw conflict('the user changed concurrently; retry');
    }
    throw error;
  }
}

/**
 * Any command on an existing user of `tenantId` (another tenant's user is "not found"). Rejecting or
 * removing a user then releases its seat and its email claim. An owner leaving the owner role (demoted, removed) first
 * releases their ownership on the membership stream, which refuses to let the last owner go; the
 * command is decided once beforehand, so a refused command appends nothing anywhere. If the process
 * stops between the appends, running the same command again completes it (each step is idempotent).
 */
export async function changeUser(
  store: CommandStore,
  tenantId: string,
  userId: string,
  command: Exclude<UserCommand, { type: 'RegisterUser' }>,
  context: CommandContext,
): Promise<CommandResult<UserState>> {
  const scoped: typeof userDecider = {
    ...userDecider,
    decide: (cmd, state) =>
      userDecider.decide(
        cmd,
        state.exists && state.tenantId !== tenantId ? userDecider.initialState() : state,
      ),
  };
  const before = await load(store, userStreamId(userId), scoped);
  const planned = scoped.decide(command, before.state);
  const after = planned.reduce(userDecider.evolve, before.state);
  const leavesOwnership =
    before.state.role === 'owner' && isLive(before.state) && !(after.role === 'owner' && isLive(after));
  const ownership = (type: 'ClaimOwnership' | 'ReleaseOwnership') =>
    handle(
      store,
      membershipStreamId(tenantId),
      membershipDecider,
      { type, tenantId, userId, at: command.at },
      { metadata: context.metadata, maxAttempts: SEAT_ATTEMPTS },
    );
  if (leavesOwnership) await ownership('ReleaseOwnership');
  let result: CommandResult<UserState>;
  try {
    result = await handle(store, userStreamId(userId), scoped, command, context);
  } catch (error) {
    if (leavesOwnership) await ownership('ClaimOwnership');
    throw error;
  }
  if (result.state.role === 'owner' && isLive(result.state) && result.state.status === 'active') {
    await ownership('ClaimOwnership');
  }
  if (!isLive(result.state) && result.state.tenantId === tenantId) {
    await releaseSeat(store, tenantId, userId, command.at, { metadata: context.metadata });
    // The email is free for a new person (a new id): nothing of this user passes to them.
    if (result.state.emailClaimId !== null) {
      await releaseEmail(store, result.state.emailClaimId, userId, command.at, {
        metadata: context.metadata,
      });
    }
    // The username is free again, too (erasure removes a live user first, so it releases it as well).
    if (result.state.usernameClaimId !== null) {
      await releaseUsername(store, result.state.usernameClaimId, userId, command.at, {
        metadata: context.metadata,
      });
    }
  }
  return result;
}

/** Loads a user of `tenantId`; undefined when absent, of another tenant, rejected or removed. */
export async function findUser(
  store: Pick<CommandStore, 'readStream'>,
  tenantId: string,
  userId: string,
): Promise<{ state: UserState; revision: number } | undefined> {
  return users.find(store, tenantId, userId);
}

/**
 * Erases a user's personal data (crypto-shredding): a live user is removed first (seat, ownership
 * and the reactions to `UserRemoved` as usual; the last owner cannot be erased, and only an owner or
 * the platform superadmin (`actorIsOwner`) erases an owner, even a removed one), `PersonalDataErased`
 * is recorded, then `destroyKeys` destroys the user's data keys. The key goes last and always runs, so
 * a retry after a crash anywhere completes the erasure, and a repeated request changes nothing more.
 * Another tenant's user is "not found".
 */
export async function erasePersonalData(
  store: CommandStore,
  input: { tenantId: string; userId: string; by: string; actorIsOwner: boolean; at: string },
  context: CommandContext,
  destroyKeys: (userId: string) => Promise<void>,
): Promise<CommandResult<UserState>> {
  const { tenantId, userId, actorIsOwner, at } = input;
  const before = await everyUser.find(store, tenantId, userId);
  if (!before) throw notFound('user');
  if (isLive(before.state)) {
    await changeUser(
      store,
      tenantId,
      userId,
      { type: 'RemoveUser', actorIsOwner, at },
      { metadata: context.metadata },
    );
  }
  const result = await handle(
    store,
    userStreamId(userId),
    userDecider,
    { type: 'ErasePersonalData', by: input.by, actorIsOwner, at },
    { metadata: context.metadata },
  );
  await destroyKeys(userId);
  return result;
}
