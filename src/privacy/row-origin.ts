import { ERASED } from '../commands/identity/index.ts';
import { open, seal } from '../identity/index.ts';
import type { PersonalDataKeys } from './keys.ts';
import type { RequestOrigin } from './origin.ts';

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
 * The origins of these rows, opened with the keys that still exist (one lookup for all): a row with
 * none reads as null, a destroyed key as `[erased]`. One that does not open with its live key was
 * altered: that throws, never passing for an erasure.
 */
export async function openRowOrigins(
  keys: Pick<PersonalDataKeys, 'find'>,
  rows: readonly { origin: SealedRowOrigin | null; row: string }[],
): Promise<(RequestOrigin | null)[]> {
  const keyIds = [...new Set(rows.flatMap((r) => (r.origin ? [r.origin.key] : [])))];
  const found = keyIds.length === 0 ? new Map<string, CryptoKey>() : await keys.find(keyIds);
  return Promise.all(
    rows.map(async ({ origin, row }) => {
      if (!origin) return null;
      const key = found.get(origin.key);
      if (!key) return { clientAddress: ERASED, userAgent: ERASED };
      let text: string;
      try {
        text = await open(key, origin.sealed, context(row));
      } catch {
        throw new Error(`${row}: its sealed origin does not open (altered?)`);
      }
      return JSON.parse(text) as RequestOrigin;
    }),
  );
}
