import { describe, expect, it } from 'vitest';
import { fetchTarball, type Run } from '../../src/processes/packages/stage-run.ts';

describe('a firewall without an upstream registry', () => {
  it('downloads nothing from a built-in host: the stage waits, retryable, naming the setting', async () => {
    // Only what fetchTarball reads: no upstream configured, and the package it would download.
    const run = {
      deps: { upstream: undefined },
      session: { state: { name: 'left-pad', version: '1.3.0', download: null, lockfileIntegrity: null } },
      signal: new AbortController().signal,
    } as unknown as Run;
    const failure = await fetchTarball(run).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'no_upstream', retryable: true });
    expect(String((failure as Error).message)).toContain('WARDEN_UPSTREAM_REGISTRY');
  });
});
