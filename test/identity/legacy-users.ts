import { membershipStreamId, userStreamId } from '../../src/commands/identity/index.ts';
import type { EventStore } from '../../src/eventstore/port.ts';

/**
 * A user as Warden stored one before email claims: a `UserRegistered` of schema version 1 (no
 * `emailClaimId`, no version stamp) in the stream of an id derived from (tenant, email), and its
 * seat. `store` must not stamp versions (the personal-data store over the raw adapter), so the
 * event reads exactly as an old one does.
 */
export async function appendLegacyUser(
  store: EventStore,
  hasher: { hash(password: string): Promise<string> },
  input: { tenantId: string; userId: string; email: string; password: string; role?: 'owner' | 'member' },
) {
  const { tenantId, userId, email } = input;
  const at = new Date().toISOString();
  const metadata = { tenantId, actorId: 'test' };
  await store.append(
    userStreamId(userId),
    [
      {
        id: crypto.randomUUID(),
        type: 'UserRegistered',
        data: {
          userId,
          tenantId,
          email,
          name: 'Old Timer',
          role: input.role ?? 'member',
          status: 'active',
          passwordHash: await hasher.hash(input.password),
          at,
        },
        metadata,
      },
    ],
    { expected: 'no_stream' },
  );
  await store.append(
    membershipStreamId(tenantId),
    [{ id: crypto.randomUUID(), type: 'SeatClaimed', data: { userId, tenantId, at }, metadata }],
    { expected: 'any' },
  );
}
