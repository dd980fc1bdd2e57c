const UNPAIRED_SURROGATE = /\p{Cs}/u;

/**
 * Text that PostgreSQL can hold in a `text` column and parse as JSON: no NUL character and no
 * unpaired surrogate. The event store keeps such text as JSON, but a read model inserting it fails,
 * and a projection stops at an event it cannot apply, for every tenant. Refine free text with it.
 */
export const isStorableText = (text: string): boolean =>
  !text.includes('\u0000') && !UNPAIRED_SURROGATE.test(text);

export const STORABLE_TEXT_MESSAGE = 'must not contain NUL characters or unpaired surrogates';

/**
 * The text as PostgreSQL can hold it: NUL characters dropped, unpaired surrogates replaced by U+FFFD.
 * For readers of events stored before their text was refused (a read model must never stop at one).
 */
export const toStorableText = (text: string): string =>
  isStorableText(text) ? text : text.replaceAll('\u0000', '').replace(/\p{Cs}/gu, '\uFFFD');

/**
 * Where a parsed JSON value first holds text (a key or a string) that is not storable, e.g.
 * `items.2.name`; a key that is itself not storable is named as `toStorableText` makes it (the
 * answer must not carry the character it refuses).
 */
export function unstorablePath(value: unknown, path: readonly (string | number)[] = []): string | undefined {
  if (typeof value === 'string') return isStorableText(value) ? undefined : path.join('.') || '(body)';
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = unstorablePath(item, [...path, index]);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (!isStorableText(key)) return [...path, toStorableText(key)].join('.');
      const found = unstorablePath(item, [...path, key]);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
