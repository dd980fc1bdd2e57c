import type { ClientSettings } from '../../src/commands/oauth/index.ts';
import { base64url } from '../../src/identity/tokens/crypto.ts';
import { s256 } from '../../src/oauth/codes.ts';
import type { LooseJson, SignedInUser, TestApp } from '../support/app.ts';

/** A form body and its content type, as OAuth endpoints take them. */
export function form(fields: Record<string, string | undefined>): RequestInit {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) body.set(k, v);
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
  };
}

export const basic = (id: string, secret: string) =>
  `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`;

/** A PKCE verifier and its S256 challenge. */
export function pkce() {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  return { verifier, challenge: s256(verifier) };
}

export const REDIRECT = 'https://app.example.com/callback';

/**
 * A tenant with an owner and the helpers OAuth tests need: register clients through the API, call
 * the tenant's OAuth endpoints with a cookie jar (the sign-in and consent pages set cookies), and
 * walk the authorization-code flow through the real pages without a browser.
 */
export async function oauthFixture(t: TestApp) {
  const tenant = await t.tenant();
  const owner = await t.user({ tenant: tenant.slug, role: 'owner' });
  const issuer = `http://localhost/t/${tenant.slug}`;
  const jar = new Map<string, string>();

  async function call(path: string, init: RequestInit = {}) {
    const headers = new Headers(init.headers);
    if (jar.size > 0) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await t.request(path.startsWith('http') ? path : `${issuer}${path}`, { ...init, headers });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const [name, ...rest] = (pair ?? '').split('=');
      const value = rest.join('=');
      if (!name) continue;
      if (value === '' || /max-age=0/i.test(cookie)) jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  }

  async function registerClient(body: LooseJson, as: SignedInUser = owner) {
    const res = await t.request(`/t/${tenant.slug}/v1/oauth/clients`, { token: as.token, json: body });
    if (res.status !== 201)
      throw new Error(`client registration answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as LooseJson;
  }

  /** A confidential client with the usual grants (code, refresh, client credentials). */
  const confidential = (extra: LooseJson = {}) =>
    registerClient({
      name: 'Web app',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      scopes: ['openid', 'profile', 'email', 'offline_access', 'packages:read', 'tracker:read'],
      ...extra,
    });

  const hidden = (html: string, name: string) =>
    new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';

  function authorizeUrl(params: Record<string, string | undefined>) {
    const url = new URL(`${issuer}/oauth/authorize`);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
    return url.toString();
  }

  /**
   * Runs the authorization endpoint as a browser would: sign-in page (when asked), consent page
   * (when asked, with `decision`), and returns the final redirect's parameters.
   */
  async function authorize(
    params: Record<string, string | undefined>,
    user: { email: string; password: string } = owner,
    decision: 'allow' | 'deny' = 'allow',
  ) {
    let res = await call(authorizeUrl(params));
    const pages: string[] = [];
    for (let step = 0; step < 3 && res.status === 200; step++) {
      const html = await res.text();
      const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
      if (!action) throw new Error(`a page without a form: ${html.slice(0, 300)}`);
      const fields = { interaction: hidden(html, 'interaction'), csrf: hidden(html, 'csrf') };
      if (action.endsWith('/login')) {
        pages.push('login');
        res = await call(
          `http://localhost${action}`,
          form({ ...fields, email: user.email, password: user.password }),
        );
      } else {
        pages.push('consent');
        res = await call(`http://localhost${action}`, form({ ...fields, decision }));
      }
    }
    const location = res.headers.get('location');
    if (!location) throw new Error(`no redirect (status ${res.status}): ${(await res.text()).slice(0, 400)}`);
    const url = new URL(location);
    return { status: res.status, url, params: Object.fromEntries(url.searchParams), pages };
  }

  /** POSTs a form to a token-style endpoint, authenticated as `client` with client_secret_basic. */
  const post = (path: string, client: LooseJson | undefined, fields: Record<string, string | undefined>) =>
    call(path, {
      ...form(fields),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(client ? { authorization: basic(client.client_id, client.client_secret) } : {}),
      },
    });

  /**
   * The authorization half of the code flow (S256 PKCE, a state and a nonce), as `user`: the code
   * the browser gets back, not exchanged, with what the exchange needs.
   */
  async function authorizeCode(
    client: LooseJson,
    scope = 'openid profile email packages:read',
    extra: Record<string, string> = {},
    user: { email: string; password: string } = owner,
  ) {
    const { verifier, challenge } = pkce();
    const state = crypto.randomUUID();
    const nonce = crypto.randomUUID();
    const back = await authorize(
      {
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: REDIRECT,
        scope,
        state,
        nonce,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        ...extra,
      },
      user,
    );
    return { back, state, nonce, code: back.params.code ?? '', verifier };
  }

  /** The code's exchange at the token endpoint, `client` authenticated with client_secret_basic. */
  const exchangeCode = (client: LooseJson, grant: { code: string; verifier: string }) =>
    post('/oauth/token', client, {
      grant_type: 'authorization_code',
      code: grant.code,
      redirect_uri: REDIRECT,
      code_verifier: grant.verifier,
    });

  /** The code flow to the end: authorize (as `user`), then exchange the code at the token endpoint. */
  async function codeFlow(
    client: LooseJson,
    scope = 'openid profile email packages:read',
    extra: Record<string, string> = {},
    user: { email: string; password: string } = owner,
  ) {
    const authorized = await authorizeCode(client, scope, extra, user);
    const res = await exchangeCode(client, authorized);
    return { ...authorized, res, tokens: (await res.json()) as LooseJson };
  }

  return {
    tenant,
    owner,
    issuer,
    jar,
    call,
    registerClient,
    confidential,
    authorize,
    authorizeUrl,
    authorizeCode,
    exchangeCode,
    codeFlow,
    post,
  };
}

/** The settings of a machine client (client credentials, a secret sent with Basic authentication). */
export const machineClientSettings: ClientSettings = {
  name: 'Bot',
  redirectUris: [],
  postLogoutRedirectUris: [],
  grantTypes: ['client_credentials'],
  scopes: ['packages:read'],
  tokenEndpointAuthMethod: 'client_secret_basic',
  jwks: [],
  requireDpop: false,
  requirePar: false,
  idTokenSignedResponseAlg: 'RS256',
  skipConsent: false,
  introspection: 'own',
};
