import { isMap, isScalar, parseDocument, visit } from 'yaml';
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
    // yaml's own `uniqueKeys` compares every key with every other (minutes for 20,000 entries):
    // duplicates are found below with a set per mapping instead.
    const doc = parseDocument(text, { schema: 'failsafe', uniqueKeys: false, prettyErrors: false });
    const first = doc.errors[0];
    if (first) {
      const at = first.linePos?.[0];
      return {
        ok: false,
        errors: [
          {
            path: at ? `(body):${at.line}:${at.col}` : '(body)',
            message: `is not valid YAML (${first.code})`,
          },
        ],
      };
    }
    const badKey = badKeyOf(doc, text);
    if (badKey) return { ok: false, errors: [badKey] };
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

/** The first key a mapping repeats, or a key that is not plain text (an alias, a mapping), with its place. */
function badKeyOf(doc: ReturnType<typeof parseDocument>, text: string): LockfileError | undefined {
  let found: LockfileError | undefined;
  visit(doc, {
    Map(_, map) {
      if (!isMap(map)) return undefined;
      const keys = new Set<string>();
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (key === undefined || keys.has(key)) {
          const offset = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
          found = {
            path: offset === undefined ? '(body)' : position(text, offset),
            message:
              key === undefined
                ? 'has a key that is not plain text, which no lockfile tool writes'
                : 'repeats a key: a lockfile names each entry once',
          };
          return visit.BREAK;
        }
        keys.add(key);
      }
      return undefined;
    },
  });
  return found;
}

function position(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `(body):${line}:${offset - before.lastIndexOf('\n')}`;
}

/** A YAML flag under the failsafe schema: `true` arrives as the string "true". */
export const flag = (value: unknown): boolean => value === true || value === 'true';
