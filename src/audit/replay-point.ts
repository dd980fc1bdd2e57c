import { z } from 'zod';

/** Where to stop: a revision (inclusive), a time (events recorded up to it), or the latest state. */
export type ReplayPoint =
  | { kind: 'latest' }
  | { kind: 'revision'; revision: number }
  | { kind: 'time'; at: Date };

const IsoTime = z.iso.datetime({ offset: true });
const REVISION = /^\d{1,15}$/;

/** `at` as a request or the CLI gives it: a revision (`42`) or an ISO 8601 time with a zone. */
export function parseReplayPoint(
  text: string | undefined,
): { ok: true; point: ReplayPoint } | { ok: false; message: string } {
  if (text === undefined || text === '') return { ok: true, point: { kind: 'latest' } };
  if (REVISION.test(text)) return { ok: true, point: { kind: 'revision', revision: Number(text) } };
  if (IsoTime.safeParse(text).success) {
    const at = new Date(text);
    if (!Number.isNaN(at.getTime())) return { ok: true, point: { kind: 'time', at } };
  }
  return {
    ok: false,
    message:
      'must be a revision (a whole number ≥ 0) or an ISO 8601 time with a zone, e.g. 2026-01-31T12:00:00Z',
  };
}
