import { seal } from '../identity/index.ts';
import type { PersonalDataKeys } from './keys.ts';
import { openSealedOrigins, type RequestOrigin } from './origin.ts';

/*
 * A request origin (client address and User-Agent) kept in a table row rather than in an event's
 * metadata, e.g. where a workspace browser session was opened. It is personal data like an event's
 * origin, so it is stored the same way: sealed with the person's data key and bound to its row (a
 * sealed origin copied to another row does not open), so an erasure of the person destroys it with
 * the rest of their data and a copy of the table shows neither field.
 */

/** An origin as a row stores it: the data key's id and the AES-256-GCM ciphertext. */
export interface SealedRowOrigin {
  key: string;
  sealed: string;
}

const context = (row: string) => `warden row origin ${row}`;

/**
 * `origin` sealed with the current key of `subjectId`, bound to `row` (a table name and the row's
 * id, say); null when there is nothing to keep.
 */
export async function sealRowOrigin(
  keys: Pick<PersonalDataKeys, 'current'>,
  subject: { subjectId: string; tenantId: string | null },
  origin: Partial<RequestOrigin>,
  row: string,
): Promise<SealedRowOrigin | null> {
  const clear: RequestOrigin = {
    clientAddress: origin.clientAddress ?? null,
    userAgent: origin.userAgent ?? null,
  };
  if (clear.clientAddress === null && clear.userAgent === null) return null;
  const key = await keys.current(subject.subjectId, subject.tenantId);
  return { key: key.keyId, sealed: await seal(key.key, JSON.stringify(clear), context(row)) };
}

/**
 * The origins of these rows, opened as `openSealedOrigins` opens them: a row with none reads as null,
 * a destroyed key as `[erased]`, an altered one throws.
 */
export function openRowOrigins(
  keys: Pick<PersonalDataKeys, 'find'>,
  rows: readonly { origin: SealedRowOrigin | null; row: string }[],
): Promise<(RequestOrigin | null)[]> {
  return openSealedOrigins(
    keys,
    rows.map(({ origin, row }) =>
      origin ? { key: origin.key, sealed: origin.sealed, context: context(row), holder: row } : null,
    ),
  );
}
