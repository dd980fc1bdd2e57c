import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { partitionOf } from '../../src/processes/runtime/index.ts';

describe('partitionOf', () => {
  it('is a fixed function of the stream id (stored checkpoints depend on it)', () => {
    // FNV-1a 32 of the UTF-8 bytes; these values must never change.
    expect(partitionOf('', 16)).toBe(0x811c9dc5 % 16);
    expect(partitionOf('a', 1 << 30)).toBe(0xe40c292c % (1 << 30));
    expect(partitionOf('packages.Request-0b7', 16)).toBe(partitionOf('packages.Request-0b7', 16));
  });

  it('always lands inside the partition range', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.integer({ min: 1, max: 1024 }), (id, n) => {
        const p = partitionOf(id, n);
        return Number.isInteger(p) && p >= 0 && p < n;
      }),
    );
  });

  it('spreads typical stream ids over every partition', () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[partitionOf(`packages.Request-${i}`, 16)]!++;
    expect(Math.min(...counts)).toBeGreaterThan(800);
    expect(Math.max(...counts)).toBeLessThan(1200);
  });
});
