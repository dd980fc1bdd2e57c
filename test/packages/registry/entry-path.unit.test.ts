import { describe, expect, it } from 'vitest';
import { extractedPath, possiblePaths } from '../../../src/packages/registry/entry-path.ts';

describe('where npm’s extractor writes a tarball entry', () => {
  it.each([
    ['package/package.json', 'package.json'],
    ['node-v1/package.json', 'package.json'],
    ['package/./package.json', 'package.json'],
    ['package//package.json', 'package.json'],
    ['package/lib/./x.js', 'lib/x.js'],
    ['../package.json', 'package.json'],
    ['./package/package.json', 'package/package.json'],
    ['/package/package.json', 'package/package.json'],
    ['x/\\package.json', 'package.json'],
    ['x/c:package.json', 'package.json'],
    ['x///?/C:/package.json', 'package.json'],
    ['x/\\\\srv\\share\\package.json', 'package.json'],
    ['a\\b/package.json', 'package.json'],
  ])('%j lands on %j', (entry, expected) => {
    expect(extractedPath(entry)).toBe(expected);
  });

  it.each(['package', 'package/', 'package/.', 'package/../package.json', 'package/lib/..\\x'])(
    '%j is not written at all',
    (entry) => {
      expect(extractedPath(entry)).toBeUndefined();
    },
  );

  it('counts the spellings other systems give the same file', () => {
    expect(possiblePaths('package\\package.json')).toContain('package.json');
    expect(possiblePaths('package/PACKAGE.JSON')).toContain('package.json');
    expect(possiblePaths('package/package.json. ')).toContain('package.json');
    expect(possiblePaths('./package/package.json')).toContain('package.json');
    expect(possiblePaths('package/lib/package.json')).toEqual(['lib/package.json']);
  });
});
