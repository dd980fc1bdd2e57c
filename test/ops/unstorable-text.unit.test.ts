import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toStorableText, unstorablePath } from '../../src/commands/kernel/index.ts';

/**
 * A JSON value with no NUL and no lone surrogate anywhere (fast-check's strings may hold either).
 * JSON.stringify writes both as escapes; a few values that merely hold a backslash and such text are
 * left out too, which only narrows the sample.
 */
const storable = fc
  .jsonValue()
  .filter((value) => !/\\u0000|\\u[dD][89a-fA-F]/.test(JSON.stringify(value) ?? ''));

describe('unstorablePath', () => {
  it('finds nothing in a value without NUL or lone surrogates', () => {
    fc.assert(
      fc.property(storable, (value) => {
        expect(unstorablePath(value)).toBeUndefined();
      }),
    );
  });

  it('names a path whose text holds the bad character, wherever it was put', () => {
    const bad = fc.constantFrom('\u0000', '\ud800', '\udfff', 'a\u0000b', '\ud83d');
    fc.assert(
      fc.property(storable, bad, fc.nat(), (value, text, pick) => {
        // Put the text in as a string somewhere: in an array, an object value or an object key.
        const spot = pick % 3;
        const poisoned =
          spot === 0 ? [value, text] : spot === 1 ? { ok: value, bad: text } : { ok: value, [text]: 1 };
        expect(unstorablePath(poisoned)).toBe(spot === 0 ? '1' : spot === 1 ? 'bad' : toStorableText(text));
      }),
    );
  });
});
