import { describe, expect, it } from 'vitest';
import { keysCommand, parseKeysArgs } from '../../src/cli/keys.ts';
import { parseOsvArgs } from '../../src/cli/osv.ts';
import { parseProjectionsArgs, projectionsCommand } from '../../src/cli/projections.ts';
import { parseReplayArgs } from '../../src/cli/replay.ts';
import type { ProjectionStatus } from '../../src/projections/engine/index.ts';

/** A stream that keeps what is written to it. */
function capture() {
  let text = '';
  const output = {
    write: (chunk: string) => {
      text += chunk;
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  return { output, text: () => text };
}

describe('command arguments (node:util parseArgs)', () => {
  it('takes options in any order, as --name value or --name=value', () => {
    const expected = { kind: 'run', args: { streamId: 's-1', at: '3', diff: true, json: false } };
    expect(parseReplayArgs(['s-1', '--at', '3', '--diff'])).toEqual(expected);
    expect(parseReplayArgs(['--diff', '--at=3', 's-1'])).toEqual(expected);
    expect(parseKeysArgs(['--alg=RS256', 'rotate', '--tenant', 'acme'])).toEqual({
      kind: 'run',
      args: { action: 'rotate-tenant', tenant: 'acme', alg: 'RS256' },
    });
    expect(parseKeysArgs(['--force', 'rotate'])).toEqual({
      kind: 'run',
      args: { action: 'rotate', force: true },
    });
  });

  it('answers -h and --help on every command', () => {
    for (const parse of [parseKeysArgs, parseProjectionsArgs, parseReplayArgs, parseOsvArgs]) {
      expect(parse(['--help'])).toEqual({ kind: 'help' });
      expect(parse(['-h'])).toEqual({ kind: 'help' });
    }
    expect(parseKeysArgs(['rotate', '--tenant', 'acme', '--help'])).toEqual({ kind: 'help' });
  });

  it('refuses unknown options, a missing value, stray arguments and options that do not go together', () => {
    const refused = [
      parseReplayArgs(['s-1', '--colour']),
      parseReplayArgs(['s-1', '--at']),
      parseReplayArgs(['s-1', 's-2']),
      parseKeysArgs(['list', '--force']),
      parseKeysArgs(['rotate', '--json']),
      parseKeysArgs(['rotate', '--alg', 'RS256']),
      parseKeysArgs(['rotate', '--tenant', 'acme', '--alg', 'HS256']),
      parseKeysArgs(['delete']),
      parseProjectionsArgs(['rebuild']),
      parseProjectionsArgs(['rebuild', 'a', 'b']),
      parseOsvArgs(['import']),
    ];
    for (const parsed of refused)
      expect(parsed).toMatchObject({ kind: 'invalid', message: expect.any(String) });
  });

  it('prints a list as JSON with --json (projections list, keys list, keys list --tenant)', async () => {
    const status: ProjectionStatus = {
      name: 'issueList',
      version: 2,
      position: 12n,
      head: 14n,
      lag: 2,
      state: 'live',
      lastError: null,
      rebuild: null,
    };
    const projections = capture();
    const engine = { status: async () => [status], rebuild: async () => Promise.reject(new Error('unused')) };
    expect(await projectionsCommand(['list', '--json'], { engine, output: projections.output })).toBe(0);
    expect(JSON.parse(projections.text())).toEqual([{ ...status, position: '12', head: '14' }]);

    const created = new Date('2030-01-01T00:00:00Z');
    const key = {
      kid: 'k1',
      state: 'active' as const,
      createdAt: created,
      activatedAt: created,
      retiredAt: null,
      publishedUntil: null,
    };
    const deps = {
      keys: { list: async () => [key], rotate: async () => ({ activated: '', retired: null, pending: '' }) },
      tenantKeys: {
        keys: {
          jwks: async () => ({ keys: [{ kid: 't1', alg: 'EdDSA', kty: 'OKP', crv: 'Ed25519', x: 'AAAA' }] }),
          rotate: async () => ({ kid: '' }),
        },
        publishForSeconds: 900,
        tenantId: async () => 'tenant-1',
      },
    };
    const keys = capture();
    expect(await keysCommand(['list', '--json'], { ...deps, output: keys.output } as never)).toBe(0);
    expect(JSON.parse(keys.text())).toEqual([
      { ...key, createdAt: created.toISOString(), activatedAt: created.toISOString() },
    ]);
    const tenant = capture();
    expect(
      await keysCommand(['--json', 'list', '--tenant', 'acme'], { ...deps, output: tenant.output } as never),
    ).toBe(0);
    expect(JSON.parse(tenant.text())).toEqual([expect.objectContaining({ kid: 't1', alg: 'EdDSA' })]);
  });

  it('prints an unknown option and the usage on the error stream, with exit code 2', async () => {
    const output = capture();
    const errors = capture();
    const engine = { status: async () => [], rebuild: async () => Promise.reject(new Error('unused')) };
    expect(
      await projectionsCommand(['list', '--colour'], {
        engine,
        output: output.output,
        errors: errors.output,
      }),
    ).toBe(2);
    expect(output.text()).toBe('');
    expect(errors.text()).toContain("Unknown option '--colour'");
    expect(errors.text()).toContain('warden projections list');
  });
});
