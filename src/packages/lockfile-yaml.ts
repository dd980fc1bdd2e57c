import { parseDocument } from 'yaml';
import { isObject, type Json } from './lockfile-collector.ts';
import type { LockfileError } from './lockfile-types.ts';

/**
 * Loads a YAML lockfile (pnpm-lock.yaml, a Berry yarn.lock) as plain data, refusing what no tool writes:
 * anchors and aliases (`maxAliasCount: 0`, so a "billion laughs" bomb never expands), duplicate keys,
 * and anything that is not a mapping at the top. Every scalar stays a string (the failsafe schema):
 * `version: 1.10` must not become the number 1.1.
 */
export function loadYaml(text: string): { ok: true; value: Json } | { ok: false; errors: LockfileError[] } {
  let value: unknown;
  try {
    const doc = parseDocument(text, { schema: 'failsafe', uniqueKeys: true, prettyErrors: false });
    const first = doc.errors[0];
    if (first) {
      const at = first.linePos?.[0];
      return {
        ok: false,
        errors: [
          {
            path: at ? `(body):${at.line}:${at.col}` : '(body)',
            message:
              first.code === 'DUPLICATE_KEY'
                ? 'repeats a key: a lockfile names each entry once'
                : `is not valid YAML (${first.code})`,
          },
        ],
      };
    }
    value = doc.toJS({ maxAliasCount: 0 });
  } catch (error) {
    // toJS refuses aliases with a ReferenceError; a pathological nesting may exhaust the stack.
    const alias = error instanceof ReferenceError;
    return {
      ok: false,
      errors: [
        {
          path: '(body)',
          message: alias
            ? 'uses YAML anchors or aliases, which no lockfile tool writes'
            : 'could not be read as YAML',
        },
      ],
    };
  }
  if (!isObject(value)) return { ok: false, errors: [{ path: '(body)', message: 'must be a YAML mapping' }] };
  return { ok: true, value };
}

/** A YAML flag under the failsafe schema: `true` arrives as the string "true". */
export const flag = (value: unknown): boolean => value === true || value === 'true';
