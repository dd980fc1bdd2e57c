import {
  type AppendOptions,
  type ExpectedRevision,
  InvalidAppendError,
  InvalidReadError,
  type InvalidStoreInputError,
  type NewEvent,
  type ReadStreamOptions,
} from './port.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what we refuse
const CONTROL = /[\u0000-\u001f\u007f]/;
const METADATA_STRINGS = ['tenantId', 'actorId', 'correlationId', 'causationId', 'requestId'] as const;

/** An append checked and serialised once, so every adapter refuses the same inputs the same way. */
export interface ValidAppend {
  streamId: string;
  expected: ExpectedRevision;
  events: { id: string; type: string; data: string; metadata: string; tenantId: string | null }[];
}

/** A stream id every adapter takes; refused with `Invalid` (an append's error, or a read's). */
export function validateStreamId(
  streamId: unknown,
  Invalid: new (field: string, message: string) => InvalidStoreInputError = InvalidAppendError,
): string {
  if (typeof streamId !== 'string' || streamId.length === 0) {
    throw new Invalid('streamId', 'must be a non-empty string');
  }
  if (streamId.length > 512) throw new Invalid('streamId', 'must be at most 512 characters');
  if (CONTROL.test(streamId)) throw new Invalid('streamId', 'must not contain control characters');
  if (streamId.startsWith('$')) throw new Invalid('streamId', 'must not start with "$" (reserved)');
  return streamId;
}

/** Events a read returns when it names no `limit`, and the most it may name. */
export const DEFAULT_READ_LIMIT = 1000;
export const MAX_READ_LIMIT = 10_000;

/** A read's page size: its `limit`, checked, or the default. */
export function validateReadLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_READ_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_READ_LIMIT) {
    throw new InvalidReadError('limit', `must be a whole number from 1 to ${MAX_READ_LIMIT}`);
  }
  return limit;
}

/** A stream read's checked inputs: its stream id, page size and where it starts (when named). */
export function validateStreamRead(
  streamId: unknown,
  options: Pick<ReadStreamOptions, 'from' | 'limit'>,
): { limit: number; from: ReadStreamOptions['from'] } {
  validateStreamId(streamId, InvalidReadError);
  const { from } = options;
  if (
    from !== undefined &&
    from !== 'start' &&
    from !== 'end' &&
    (typeof from !== 'number' || !Number.isSafeInteger(from) || from < 0)
  ) {
    throw new InvalidReadError('from', `must be a revision ≥ 0, "start" or "end", got ${describe(from)}`);
  }
  return { limit: validateReadLimit(options.limit), from };
}

export function validateExpected(expected: unknown): ExpectedRevision {
  if (expected === undefined) return 'any';
  if (expected === 'any' || expected === 'no_stream' || expected === 'exists') return expected;
  if (typeof expected === 'number' && Number.isSafeInteger(expected) && expected >= 0) return expected;
  throw new InvalidAppendError(
    'expected',
    `must be "any", "no_stream", "exists" or a revision (a whole number ≥ 0), got ${describe(expected)}`,
  );
}

export function validateAppend(streamId: unknown, events: unknown, options?: AppendOptions): ValidAppend {
  const id = validateStreamId(streamId);
  const expected = validateExpected(options?.expected);
  if (!Array.isArray(events) || events.length === 0) {
    throw new InvalidAppendError('events', 'must be a non-empty array');
  }
  const seen = new Set<string>();
  const out = (events as NewEvent[]).map((event, i) => {
    const at = `events[${i}]`;
    if (typeof event !== 'object' || event === null) throw new InvalidAppendError(at, 'must be an object');
    if (typeof event.id !== 'string' || !UUID.test(event.id)) {
      throw new InvalidAppendError(`${at}.id`, 'must be a UUID');
    }
    const lower = event.id.toLowerCase();
    if (seen.has(lower)) throw new InvalidAppendError(`${at}.id`, 'appears twice in one append');
    seen.add(lower);
    if (typeof event.type !== 'string' || event.type.length === 0 || event.type.length > 200) {
      throw new InvalidAppendError(`${at}.type`, 'must be a string of 1 to 200 characters');
    }
    if (event.type.startsWith('$'))
      throw new InvalidAppendError(`${at}.type`, 'must not start with "$" (reserved)');
    const metadata = event.metadata ?? {};
    for (const key of METADATA_STRINGS) {
      const value = metadata[key];
      if (value !== undefined && typeof value !== 'string') {
        throw new InvalidAppendError(`${at}.metadata.${key}`, 'must be a string');
      }
    }
    return {
      id: lower,
      type: event.type,
      data: toJson(event.data, `${at}.data`),
      metadata: toJson(metadata, `${at}.metadata`),
      tenantId: metadata.tenantId ?? null,
    };
  });
  return { streamId: id, expected, events: out };
}

/** JSON text of a value, refusing anything JSON would change or drop instead of silently losing it. */
export function toJson(value: unknown, field: string): string {
  // The walk that names the culprit builds a path string for every value it visits: on a 100-event
  // append that, with its garbage, was about a fifth of the client's CPU (bench:eventstore). Valid
  // input, the usual case, is checked without paths; only a refusal walks again to name the field.
  if (!isJson(value, 0)) assertJson(value, field, new Set());
  return JSON.stringify(value);
}

/** Deeper than this, the path-naming walk decides (it also catches cycles, which would recurse forever here). */
const FAST_DEPTH = 64;

/** Whether `assertJson` would accept `value`: the same rules, no paths, no allocation. */
export function isJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (depth >= FAST_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!isJson(value[i], depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        const item = (value as Record<string, unknown>)[key];
        if (item !== undefined && !isJson(item, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** Throws naming the first value JSON would change or drop; returns when there is none. */
export function assertJson(value: unknown, path: string, ancestors: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidAppendError(path, `is not serialisable (${value})`);
      return;
    case 'object': {
      if (value === null) return;
      if (ancestors.has(value))
        throw new InvalidAppendError(path, 'is not serialisable (circular reference)');
      ancestors.add(value);
      if (Array.isArray(value)) {
        value.forEach((item, i) => {
          assertJson(item, `${path}[${i}]`, ancestors);
        });
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          throw new InvalidAppendError(path, `is not serialisable (${describe(value)}; use plain objects)`);
        }
        for (const [key, item] of Object.entries(value)) {
          if (item !== undefined) assertJson(item, `${path}.${key}`, ancestors);
        }
      }
      ancestors.delete(value);
      return;
    }
    default:
      throw new InvalidAppendError(path, `is not serialisable (${typeof value})`);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'object';
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
