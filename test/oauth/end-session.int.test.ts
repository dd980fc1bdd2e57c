import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { form, oauthFixture, pkce, REDIRECT } from './support.ts';

// Finding 9c: RP-initiated logout (OIDC RP-Initiated Logout 1.0 §2–§3). A link or an image pointing
// at end-session must not sign anyone out: without an ID token hint of this issuer, the user confirms.
const BYE = 'https://app.example.com/bye';

describe('end-session signs out only with a valid id_token_hint or the user’s confirmation', () => {
  let t: TestApp;
  let http: Awaited<ReturnType<TestApp['listening']>>;
  beforeAll(async () => {
    t = await testApp(freshPGlite);
    http = await t.listening();
  });
  afterAll(async () => {
    await http?.close();
    await t?.dispose();
  });

  /** A signed-in browser (cookie jar) with a client that registered BYE, and its ID token. */
  async function signedIn() {
    const o = await oauthFixture({ ...t, request: http.request });
    const client = await o.confidential({ post_logout_redirect_uris: [BYE] });
    const { tokens } = await o.codeFlow(client);
    /** True while the browser's sign-in still works (prompt=none gets a code, not login_required). */
    const stillSignedIn = async () => {
      const res = await o.call(
        o.authorizeUrl({
          response_type: 'code',
          client_id: client.client_id,
          redirect_uri: REDIRECT,
          scope: 'openid',
          prompt: 'none',
          code_challenge: pkce().challenge,
          code_challenge_method: 'S256',
        }),
      );
      const back = new URL(res.headers.get('location') ?? 'https://none.example/');
      if (back.searchParams.get('error') === 'login_required') return false;
      expect(back.searchParams.get('code')).toBeTruthy();
      return true;
    };
    return { o, client, idToken: tokens.id_token as string, stillSignedIn };
  }

  const hidden = (html: string, name: string) =>
    new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';

  it('a plain GET shows a confirmation page and leaves the user signed in', async () => {
    const { o, stillSignedIn } = await signedIn();
    const res = await o.call('/oauth/end-session');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).toMatch(/<form method="post" action="[^"]*\/oauth\/end-session"/);
    expect(await stillSignedIn()).toBe(true);
  });

  it('without a hint even a registered post-logout URI only gets the confirmation page; confirming signs out and goes back', async () => {
    const { o, client, stillSignedIn } = await signedIn();
    const res = await o.call(
      `/oauth/end-session?client_id=${client.client_id}&post_logout_redirect_uri=${encodeURIComponent(BYE)}&state=s1`,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    const html = await res.text();
    expect(await stillSignedIn()).toBe(true);

    // A cross-site form post (no CSRF token of this browser) does nothing.
    const forged = await o.call('/oauth/end-session', form({ confirm: 'yes', csrf: 'x'.repeat(43) }));
    expect(forged.status).toBe(400);
    expect(await stillSignedIn()).toBe(true);

    const confirmed = await o.call(
      '/oauth/end-session',
      form({
        confirm: 'yes',
        csrf: hidden(html, 'csrf'),
        client_id: hidden(html, 'client_id'),
        post_logout_redirect_uri: hidden(html, 'post_logout_redirect_uri'),
        state: hidden(html, 'state'),
      }),
    );
    expect(confirmed.status).toBe(303);
    expect(confirmed.headers.get('location')).toBe(`${BYE}?state=s1`);
    expect(await stillSignedIn()).toBe(false);
  });

  it('with a valid id_token_hint it signs out at once and goes back to the registered URI with state', async () => {
    const { o, idToken, stillSignedIn } = await signedIn();
    const res = await o.call(
      `/oauth/end-session?id_token_hint=${idToken}&post_logout_redirect_uri=${encodeURIComponent(BYE)}&state=z`,
    );
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`${BYE}?state=z`);
    expect(await stillSignedIn()).toBe(false);
  });

  it('refuses a hint issued to another client than client_id, and a hint that does not verify', async () => {
    const { o, idToken, stillSignedIn } = await signedIn();
    const other: LooseJson = await o.confidential({ name: 'Other', post_logout_redirect_uris: [BYE] });
    const mismatched = await o.call(
      `/oauth/end-session?id_token_hint=${idToken}&client_id=${other.client_id}&post_logout_redirect_uri=${encodeURIComponent(BYE)}`,
    );
    expect(mismatched.status).toBe(400);
    expect(mismatched.headers.get('location')).toBeNull();
    expect(await stillSignedIn()).toBe(true);
    const [head, body] = idToken.split('.');
    const tampered = await o.call(`/oauth/end-session?id_token_hint=${head}.${body}.${'A'.repeat(86)}`);
    expect(tampered.status).not.toBe(302);
    expect(await stillSignedIn()).toBe(true);
  });

  it('discovery still advertises the end_session_endpoint', async () => {
    const { o } = await signedIn();
    const res = await o.call('/.well-known/openid-configuration');
    const metadata = (await res.json()) as LooseJson;
    expect(metadata.end_session_endpoint).toBe(`${http.base}/t/${o.tenant.slug}/oauth/end-session`);
  });
});
