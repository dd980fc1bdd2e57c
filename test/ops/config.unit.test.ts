import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig } from '../../src/config.ts';

describe('configuration', () => {
  it('has a default for everything a quick start needs', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 3000,
      WARDEN_DATA_DIR: './data',
      WARDEN_WORKERS: true,
      LOG_LEVEL: 'info',
    });
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it('names every bad variable at once', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', WARDEN_WORKERS: 'maybe' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const variables = (error as ConfigError).problems.map((p) => p.variable).sort();
    expect(variables).toEqual(['DATABASE_URL', 'LOG_LEVEL', 'PORT', 'WARDEN_WORKERS']);
    expect((error as ConfigError).message).toContain('DATABASE_URL');
  });

  it('runs the PGlite upkeep every minute unless told, never in a busy loop, and not at all at 0', () => {
    expect(loadConfig({}).WARDEN_PGLITE_UPKEEP_MS).toBe(60_000);
    expect(loadConfig({ WARDEN_PGLITE_UPKEEP_MS: '0' }).WARDEN_PGLITE_UPKEEP_MS).toBe(0);
    expect(loadConfig({ WARDEN_PGLITE_UPKEEP_MS: '100' }).WARDEN_PGLITE_UPKEEP_MS).toBe(100);
    for (const bad of ['5', '-1', 'often']) {
      expect(() => loadConfig({ WARDEN_PGLITE_UPKEEP_MS: bad })).toThrow(/WARDEN_PGLITE_UPKEEP_MS/);
    }
  });

  it('treats an empty variable as unset and ignores unrelated ones', () => {
    expect(loadConfig({ DATABASE_URL: '', HOME: '/root' }).DATABASE_URL).toBeUndefined();
  });

  it('describes every variable for the README', () => {
    const rows = describeConfig();
    expect(rows.map((r) => r.variable)).toContain('EVENTSTORE_URL');
    for (const row of rows) expect(row.description, row.variable).not.toBe('');
    expect(rows.find((r) => r.variable === 'PORT')?.default).toBe('3000');
  });
});
