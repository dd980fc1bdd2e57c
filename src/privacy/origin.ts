import { ERASED } from '../commands/identity/index.ts';
import type { EventMetadata } from '../commands/kernel/index.ts';
import { open, seal } from '../identity/index.ts';
import type { DataKey, PersonalDataKeys } from './keys.ts';
import { isSealed, type SealedValue } from './sealed.ts';

/*
 * Where a command came from: the client's address and User-Agent of its request, kept in its events'
 * metadata for the audit trail. Both are personal data (an address names a person's connection), so
 * an event with an actor carries them sealed with the actor's data key, as `origin`, and an erasure of
 * that person destroys them with the rest: the audit shows `[erased]`. An event without an actor (a
 * refused sign-in, a lockout, a process manager's step) has no person to key them to and keeps them
 * in the clear: that record of where an attempt came from is what security needs to keep.
 */

export interface RequestOrigin {
  clientAddress: string | null;
  userAgent: string | null;
}

// Bound as associated data: a sealed origin moved to another event does not open.
const context = (eventId: string) => `warden origin ${eventId}`;

/** The metadata to store: the origin sealed with `key` in place of the clear fields. */
export async function sealOrigin(
  metadata: EventMetadata,
  eventId: string,
  key: DataKey,
): Promise<EventMetadata> {
  const clear: RequestOrigin = {
    clientAddress: metadata.clientAddress ?? null,
    userAgent: metadata.userAgent ?? null,
  };
  const sealed = await seal(key.key, JSON.stringify(clear), context(eventId));
  // Copied field by field, not with `{ ...rest, origin }`: Node 20's V8 takes a slow path for a rest
  // pattern and for a spread followed by more properties, and this runs for every event with an actor.
  const stored: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(metadata)) {
    if (name !== 'clientAddress' && name !== 'userAgent') stored[name] = value;
  }
  stored.origin = { $personal: { key: key.keyId, sealed } };
  return stored as EventMetadata;
}

/** Whether the metadata carries an origin to seal: an actor and an address or a User-Agent. */
export const hasClearOrigin = (
  metadata: EventMetadata | undefined,
): metadata is EventMetadata & { actorId: string } =>
  metadata !== undefined &&
  typeof metadata.actorId === 'string' &&
  (metadata.clientAddress !== undefined || metadata.userAgent !== undefined);

export interface StoredOrigin {
  eventId: string;
  /** The sealed origin, or null for an event stored without one. */
  sealed: SealedValue | null;
  /** The clear fields of an event stored without a sealed origin. */
  clientAddress: string | null;
  userAgent: string | null;
}

/** A sealed origin to open: its data key's id, the ciphertext, and what it was bound to and is named by. */
export interface SealedOriginRef {
  key: string;
  sealed: string;
  /** The associated data it was sealed with. */
  context: string;
  /** What holds it, for the error when it does not open (`event <id>`, a row's name). */
  holder: string;
}

/**
 * Sealed origins opened with the keys that still exist (one lookup for all): null stays null, a
 * destroyed key reads as `[erased]`. One that does not open with its live key was altered: that
 * throws, never passing for an erasure. Events' origins and rows' origins both open through it.
 */
export async function openSealedOrigins(
  keys: Pick<PersonalDataKeys, 'find'> | undefined,
  refs: readonly (SealedOriginRef | null)[],
): Promise<(RequestOrigin | null)[]> {
  const keyIds = [...new Set(refs.flatMap((r) => (r ? [r.key] : [])))];
  const found = keyIds.length === 0 || !keys ? new Map<string, CryptoKey>() : await keys.find(keyIds);
  return Promise.all(
    refs.map(async (ref) => {
      if (!ref) return null;
      const key = found.get(ref.key);
      if (!key) return { clientAddress: ERASED, userAgent: ERASED };
      let text: string;
      try {
        text = await open(key, ref.sealed, ref.context);
      } catch {
        throw new Error(`${ref.holder}: its sealed origin does not open (altered?)`);
      }
      return JSON.parse(text) as RequestOrigin;
    }),
  );
}

/** The origins of these events: sealed ones opened as `openSealedOrigins` does, clear ones as stored. */
export async function openOrigins(
  keys: Pick<PersonalDataKeys, 'find'> | undefined,
  stored: readonly StoredOrigin[],
): Promise<RequestOrigin[]> {
  const opened = await openSealedOrigins(
    keys,
    stored.map((s) =>
      s.sealed
        ? {
            key: s.sealed.$personal.key,
            sealed: s.sealed.$personal.sealed,
            context: context(s.eventId),
            holder: `event ${s.eventId}`,
          }
        : null,
    ),
  );
  return stored.map((s, i) => opened[i] ?? { clientAddress: s.clientAddress, userAgent: s.userAgent });
}

/** The sealed origin in stored metadata, if it has one. */
export const sealedOriginOf = (metadata: EventMetadata): SealedValue | null =>
  isSealed(metadata.origin) ? metadata.origin : null;
