import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidAppendError } from '../../src/eventstore/port.ts';
import { assertJson, isJson, toJson } from '../../src/eventstore/validate.ts';

/*
 * An event's data is checked twice over: a quick walk without paths for the usual valid input, and the
 * path-naming walk that decides and names the field when the quick one says no. The quick walk must
 * never accept what the naming walk refuses, or a refused value would be stored as JSON changed it.
 */

const accepts = (value: unknown) => {
  try {
    assertJson(value, 'data', new Set());
    return true;
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidAppendError);
    return false;
  }
};

/** Anything, with the values JSON changes or drops mixed in at every depth. */
const awkward = fc.oneof(
  fc.constant(Number.NaN),
  fc.constant(Number.POSITIVE_INFINITY),
  fc.constant(undefined),
  fc.bigInt(),
  fc.date(),
  fc.constant(new Map()),
  fc.constant(() => 1),
  fc.constant(Symbol('s')),
  fc.constant(Object.create(null) as object),
);
const values = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue(),
    awkward,
    fc.array(tie('value')),
    fc.dictionary(fc.string(), tie('value')),
  ),
})).value;

describe('an event payload is JSON as it is', () => {
  it('the quick walk accepts exactly what the path-naming walk accepts, up to its depth', () => {
    fc.assert(
      fc.property(values, (value) => {
        const quick = isJson(value, 0);
        // The quick walk hands deep or refused values to the naming walk, never the reverse.
        if (quick) expect(accepts(value)).toBe(true);
        else if (accepts(value)) expect(depthOf(value)).toBeGreaterThanOrEqual(64);
      }),
      { numRuns: 2000 },
    );
  });

  it('plain JSON values pass the quick walk and serialise as JSON.stringify does', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(isJson(value, 0)).toBe(true);
        expect(toJson(value, 'data')).toBe(JSON.stringify(value));
      }),
    );
  });

  it('names the field of a refused value, however deep or cyclic', () => {
    const cyclic: Record<string, unknown> = { a: [1, 2] };
    cyclic.self = cyclic;
    expect(() => toJson(cyclic, 'data')).toThrow(expect.objectContaining({ field: 'data.self' }));
    let deep: unknown = { bad: Number.NaN };
    for (let i = 0; i < 100; i++) deep = { next: deep };
    const path = `data${'.next'.repeat(100)}.bad`;
    expect(() => toJson(deep, 'data')).toThrow(expect.objectContaining({ field: path }));
    expect(() => toJson({ list: [1, undefined] }, 'data')).toThrow(
      expect.objectContaining({ field: 'data.list[1]' }),
    );
  });

  it('a deep valid value is accepted by the naming walk after the quick one hands it on', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(isJson(deep, 0)).toBe(false);
    expect(toJson(deep, 'data')).toBe(JSON.stringify(deep));
  });

  it("counts own keys only, as Object.entries does: a key added to Object.prototype is not the event's", () => {
    Object.defineProperty(Object.prototype, 'polluted', {
      value: Number.NaN,
      enumerable: true,
      configurable: true,
      writable: true,
    });
    let quick: boolean;
    let naming: boolean;
    try {
      quick = isJson({ a: 1 }, 0);
      naming = accepts({ a: 1 });
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
    expect([quick, naming]).toEqual([true, true]);
  });
});

function depthOf(value: unknown, seen = new Set<unknown>()): number {
  if (typeof value !== 'object' || value === null || seen.has(value)) return 0;
  seen.add(value);
  const items = Array.isArray(value) ? value : Object.values(value);
  return 1 + Math.max(0, ...items.map((item) => depthOf(item, seen)));
}
