/** A JSON value: what replay prints and diffs. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A state as JSON: sets become sorted arrays, maps objects, dates ISO strings, bigints strings, so
 * any aggregate's state can be shown and compared whatever it is made of.
 */
export function toJsonView(value: unknown): Json {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      return value.toString();
    case 'object': {
      if (value instanceof Date) return value.toISOString();
      if (value instanceof Set) return [...value].map(toJsonView).sort(compareJson);
      if (value instanceof Map) {
        return Object.fromEntries([...value].map(([k, v]) => [String(k), toJsonView(v)]));
      }
      if (Array.isArray(value)) return value.map(toJsonView);
      // fromEntries makes own properties even of keys such as `__proto__`.
      return Object.fromEntries(
        Object.entries(value)
          .filter(([, item]) => item !== undefined && typeof item !== 'function')
          .map(([key, item]) => [key, toJsonView(item)]),
      );
    }
    default:
      return null;
  }
}

function compareJson(a: Json, b: Json): number {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** One changed field: its path (`name`, `seats`, `settings.plan`), the value before and after. */
export interface Change {
  path: string;
  /** null when the field did not exist before (or after). */
  from: Json;
  to: Json;
}

/** What changed from `before` to `after`, field by field (objects recursively, arrays as wholes). */
export function diffJson(before: Json, after: Json, path = ''): Change[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((key) => {
      const at = path ? `${path}.${key}` : key;
      const a = before[key];
      const b = after[key];
      if (a === undefined || b === undefined)
        return a === b ? [] : [{ path: at, from: a ?? null, to: b ?? null }];
      return diffJson(a, b, at);
    });
  }
  return JSON.stringify(before) === JSON.stringify(after)
    ? []
    : [{ path: path || '(state)', from: before, to: after }];
}

function isObject(value: Json): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
