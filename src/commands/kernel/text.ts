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
