import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oauthServerFor } from '../../src/http/app.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { sweepExpired } from '../../src/sweep.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { oauthFixture, pkce, REDIRECT } from './support.ts';

describe('the cleanup process', () => {
  let t: TestApp;
  let now = Date.now();
  beforeAll(async () => {
    t = await testApp(freshPGlite, { clock: () => new Date(now) });
  });
  afterAll(() => t?.dispose());

  async function rateLimitRows() {
    const { rows } = await sql<{ n: string }>`select count(*) as n from warden_rate_limits`.execute(
      t.database.db,
    );
    return Number(rows[0]!.n);
  }

  it('removes expired codes, pending requests, sign-in sessions and ended rate-limit windows, and counts them in the metrics', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    // An issued and never-exchanged code, a used sign-in interaction, and a browser session.
    const back = await o.authorize({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    });
    expect(back.params.code).toBeTruthy();
    const oauth = oauthServerFor({
      config: t.config,
      identity: t.identity,
      store: t.store,
      db: t.database.db,
      clock: () => new Date(now),
    });
    const metrics = createMetrics();
    const early = await sweepExpired(t.identity, oauth, metrics);
    expect(early.oauth_codes).toBe(0);
    // The requests above were counted in rate-limit windows still open: they stay until the windows end.
    expect(early.rate_limits).toBe(0);
    const counted = await rateLimitRows();
    expect(counted).toBeGreaterThan(0);
    now += 30 * 86_400_000;
    const late = await sweepExpired(t.identity, oauth, metrics);
    expect(late.oauth_codes).toBeGreaterThanOrEqual(1);
    expect(late.oauth_requests).toBeGreaterThanOrEqual(1);
    expect(late.oauth_sessions).toBeGreaterThanOrEqual(1);
    expect(late.rate_limits).toBe(counted);
    expect(await rateLimitRows()).toBe(0);
    const { body } = await metrics.render();
    expect(body).toMatch(/warden_cleanup_removed_total\{kind="oauth_codes"\} [1-9]/);
    // The swept code is gone for good: a late exchange finds nothing.
    const res = await o.post('/oauth/token', client, {
      grant_type: 'authorization_code',
      code: back.params.code,
      redirect_uri: REDIRECT,
      code_verifier: pkce().verifier,
    });
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
  });
});
