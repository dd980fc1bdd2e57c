import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { permissionTable } from '../../src/commands/identity/permissions.ts';
import { trackerRulesMarkdown } from '../../src/commands/tracker/index.ts';
import { describeConfig } from '../../src/config.ts';

describe('README configuration table', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const rows = new Map(
    [...readme.matchAll(/^\| `([A-Z0-9_]+)` \| (.+?) \| (.+?) \|$/gm)].map((m) => [
      m[1]!,
      { fallback: m[2]!, text: m[3]! },
    ]),
  );

  it('lists every variable the service reads, with its default and description', () => {
    for (const variable of describeConfig()) {
      const row = rows.get(variable.variable);
      expect(row, `${variable.variable} is missing from the README`).toBeDefined();
      expect(row!.fallback).toBe(variable.default === '—' ? '—' : `\`${variable.default}\``);
      expect(row!.text).toBe(variable.description);
    }
  });

  it('lists no variable the service does not read', () => {
    const known = new Set(describeConfig().map((v) => v.variable));
    for (const variable of rows.keys()) expect(known.has(variable), variable).toBe(true);
  });
});

describe('README permission matrix', () => {
  it('is the table in src/commands/identity/permissions.ts', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const copy = /<!-- permission-matrix -->\n([\s\S]*?)\n<!-- \/permission-matrix -->/.exec(readme)?.[1];
    expect(copy).toBe(permissionTable());
  });
});

describe('README tracker rules', () => {
  it('are the state machine and rules in src/commands/tracker/rules.ts', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const copy = /<!-- tracker-rules -->\n([\s\S]*?)\n<!-- \/tracker-rules -->/.exec(readme)?.[1];
    expect(copy).toBe(trackerRulesMarkdown());
  });
});
