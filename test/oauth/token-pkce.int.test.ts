import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oauthServerFor } from '../../src/http/app.ts';
import { createLogger } from '../../src/logger.ts';
import type { OAuthServer } from '../../src/oauth/server.ts';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

const base64url = (bytes: Buffer) => bytes.toString('base64url');

for (const kind of databaseKinds) {
  describe(`the token endpoint's PKCE check (${kind.name})`, () => {
    let t: TestApp;
    let oauth: OAuthServer;
    let request: TestApp['request'];
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      // The app's own OAuth server, shared with the test so it can issue a code as the consent page would.
      oauth = oauthServerFor({
        config: t.config,
        identity: t.identity,
        store: t.store,
        db: t.database.db,
        logger: createLogger('silent'),
      });
      request = t.variant({ oauth });
    });
    afterAll(() => t.dispose());

    async function setup() {
      const owner = await t.user({ role: 'owner' });
      const redirectUri = 'http://127.0.0.1:5555/cb';
      const created = await request(`/t/${owner.tenantSlug}/v1/oauth/clients`, {
        token: owner.token,
        json: { name: 'Web', type: 'confidential', redirect_uris: [redirectUri], scopes: ['openid'] },
      });
      expect(created.status).toBe(201);
      const rp = (await created.json()) as LooseJson;
      const verifier = base64url(randomBytes(32));
      const { code } = await oauth.codes.issue({
        tenantId: owner.tenantId,
        clientId: rp.client_id,
        userId: owner.userId,
        redirectUri,
        scope: ['openid'],
        nonce: null,
        codeChallenge: base64url(createHash('sha256').update(verifier).digest()),
        authTime: new Date(),
        sessionId: null,
        dpopJkt: null,
      });
      const exchange = (extra: Record<string, string>) =>
        request(`/t/${owner.tenantSlug}/oauth/token`, {
          method: 'POST',
          headers: {
            authorization: `Basic ${btoa(`${rp.client_id}:${rp.client_secret}`)}`,
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            redirect_uri: redirectUri,
            ...extra,
          }).toString(),
        });
      return { exchange, verifier };
    }

    it('refuses a code exchange without code_verifier as invalid_grant and uses the code up', async () => {
      const { exchange, verifier } = await setup();
      const missing = await exchange({});
      expect(missing.status).toBe(400);
      expect(await missing.json()).toMatchObject({ error: 'invalid_grant' });
      const late = await exchange({ code_verifier: verifier });
      expect(late.status).toBe(400);
      expect(await late.json()).toMatchObject({ error: 'invalid_grant' });
    });

    it('exchanges the code with the right verifier (the same setup works)', async () => {
      const { exchange, verifier } = await setup();
      const ok = await exchange({ code_verifier: verifier });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toHaveProperty('id_token');
    });
  });
}
