import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { oauthFixture } from './support.ts';

describe.each(databaseKinds)('OAuth attacks on authorization codes ($name)', ({ fresh }) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(fresh);
  });
  afterAll(() => t?.dispose());

  it('a code presented by another client of the tenant is refused and left to its own client, who exchanges it once', async () => {
    const o = await oauthFixture(t);
    const app = await o.confidential({ name: 'App A' });
    const intruder = await o.confidential({ name: 'App B' });
    const code = await o.authorizeCode(app, 'openid offline_access packages:read');
    const active = async (token: string) =>
      ((await (await o.post('/oauth/introspect', app, { token })).json()) as LooseJson).active;

    // B holds the leaked code (and its verifier) and valid credentials of its own: refused, and the code is not used up.
    const stolen = await o.exchangeCode(intruder, code);
    expect(stolen.status).toBe(400);
    expect(await stolen.json()).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringMatching(/another client/),
    });
    const exchanged = await o.exchangeCode(app, code);
    expect(exchanged.status).toBe(200);
    const tokens = (await exchanged.json()) as LooseJson;
    expect(await active(tokens.access_token)).toBe(true);

    // Presented by B again once A has exchanged it: refused, and what A got is not revoked on B's word.
    const again = await o.exchangeCode(intruder, code);
    expect(await again.json()).toMatchObject({ error: 'invalid_grant' });
    expect(await active(tokens.access_token)).toBe(true);
    expect(await active(tokens.refresh_token)).toBe(true);

    // A second exchange by A itself is still a replay: refused, and the first exchange's tokens revoked.
    const replay = await o.exchangeCode(app, code);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });
    expect(await active(tokens.access_token)).toBe(false);
    expect(await active(tokens.refresh_token)).toBe(false);
  });

  it('another client racing the code’s own client never costs it the code', async () => {
    const o = await oauthFixture(t);
    const app = await o.confidential({ name: 'App A' });
    const intruder = await o.confidential({ name: 'App B' });
    for (let round = 0; round < 5; round++) {
      const code = await o.authorizeCode(app, 'openid packages:read');
      const [stolen, exchanged] = await Promise.all([
        o.exchangeCode(intruder, code),
        o.exchangeCode(app, code),
      ]);
      expect(await stolen.json()).toMatchObject({ error: 'invalid_grant' });
      expect(exchanged.status).toBe(200);
    }
  });

  it('a different redirect_uri from the code’s own client uses the code up', async () => {
    const o = await oauthFixture(t);
    const app = await o.confidential();
    const code = await o.authorizeCode(app, 'openid');
    const elsewhere = await o.post('/oauth/token', app, {
      grant_type: 'authorization_code',
      code: code.code,
      redirect_uri: 'https://app.example.com/other',
      code_verifier: code.verifier,
    });
    expect(await elsewhere.json()).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringMatching(/redirect_uri/),
    });
    const late = await o.exchangeCode(app, code);
    expect(late.status).toBe(400);
    expect(await late.json()).toMatchObject({ error: 'invalid_grant' });
  });
});
