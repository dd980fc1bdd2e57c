import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as client from 'openid-client';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { listen } from '../../src/runtime/index.ts';
import { type LooseJson, type SignedInUser, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { databaseUrl, freshPostgres } from '../support/postgres.ts';

export const CHROMIUM = '/usr/bin/chromium';

/** PostgreSQL when DATABASE_URL is set (a fresh schema), embedded PGlite otherwise. */
export const databaseKind = databaseUrl
  ? { name: 'postgres', fresh: () => freshPostgres() }
  : { name: 'pglite', fresh: freshPGlite };

/**
 * The whole service (as `warden serve` assembles it) listening on a free loopback port through the
 * same listener `warden serve` uses, on a database the test owns.
 */
export async function startWarden() {
  const t = await testApp(databaseKind.fresh);
  const server = await listen(t.app.fetch, { port: 0, hostname: '127.0.0.1' });
  const base = `http://127.0.0.1:${server.port}`;
  return {
    t,
    base,
    issuer: (slug: string) => `${base}/t/${slug}`,
    async close() {
      await server.close(1000);
      await t.dispose();
    },
  };
}
export type Warden = Awaited<ReturnType<typeof startWarden>>;

/** A request the RP's callback server received: a GET (query response) or a POST (form_post). */
export interface ReceivedCallback {
  url: URL;
  method: string;
  body: string;
}

/**
 * The relying party's redirect URIs: a small HTTP server that records every callback it receives
 * (what the RP's own web server would see) and answers a plain page.
 */
export async function startCallbacks() {
  const received: ReceivedCallback[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      // The browser also asks for /favicon.ico: not a callback.
      if (request.url !== '/favicon.ico') {
        received.push({
          url: new URL(request.url ?? '/', origin),
          method: request.method ?? 'GET',
          body: Buffer.concat(chunks).toString(),
        });
      }
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end('callback received');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    origin,
    received,
    uri: (path: string) => `${origin}${path}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
export type Callbacks = Awaited<ReturnType<typeof startCallbacks>>;

/**
 * Headless Chromium with a fresh profile. Missing Chromium fails the test (never a skip): `.ci/run`
 * installs it on a fresh machine.
 */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}: install it (apt-get install chromium), as .ci/run does`,
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'warden-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Registers an OAuth client through Warden's clients API as a tenant owner; the 201 body. */
export async function registerClient(
  warden: Warden,
  owner: SignedInUser,
  body: Record<string, unknown>,
): Promise<LooseJson> {
  const response = await fetch(`${warden.base}/t/${owner.tenantSlug}/v1/oauth/clients`, {
    method: 'POST',
    headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Relying party', ...body }),
  });
  if (response.status !== 201)
    throw new Error(`client registration answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as LooseJson;
}

/** openid-client's configuration for a client of `issuer`, found by OIDC discovery (plain http on loopback). */
export function discover(
  issuer: string,
  clientId: string,
  metadata?: Partial<client.ClientMetadata> | string,
  auth?: client.ClientAuth,
) {
  return client.discovery(new URL(issuer), clientId, metadata, auth, {
    execute: [client.allowInsecureRequests],
  });
}

/** What an authorization request needs to be checked later: PKCE verifier, state, nonce. */
export async function freshChecks() {
  const verifier = client.randomPKCECodeVerifier();
  return {
    verifier,
    challenge: await client.calculatePKCECodeChallenge(verifier),
    state: client.randomState(),
    nonce: client.randomNonce(),
  };
}

/**
 * Drives the browser through Warden's pages from `url` until the redirect reaches the RP's callback
 * server: signs in when the sign-in page shows, then allows or denies on the consent page. Returns
 * the callback URL the RP received and the Warden pages that were shown.
 */
export async function authorizeInBrowser(
  page: Page,
  callbacks: Callbacks,
  url: URL | string,
  input: { user?: { email: string; password: string }; decision?: 'allow' | 'deny' } = {},
) {
  const before = callbacks.received.length;
  const shown: string[] = [];
  const onResponse = (response: { url(): string; status(): number; headers(): Record<string, string> }) => {
    if (
      !response.url().startsWith(callbacks.origin) &&
      response.headers()['content-type']?.includes('text/html')
    ) {
      shown.push(new URL(response.url()).pathname);
    }
  };
  const consoleLines: string[] = [];
  const onConsole = (message: { text(): string }) => void consoleLines.push(message.text());
  page.on('response', onResponse);
  page.on('console', onConsole);
  try {
    await page.goto(String(url));
    if (input.user && !page.url().startsWith(callbacks.origin)) {
      await page.locator('#email').fill(input.user.email);
      await page.locator('#password').fill(input.user.password);
      await page.locator('#sign-in').click();
    }
    if (input.decision) {
      const button = page.locator(input.decision === 'allow' ? '#allow' : '#deny');
      await button.waitFor({ timeout: 15_000 });
      await button.click();
    }
    await page
      .waitForURL((u) => u.origin === callbacks.origin, { timeout: 15_000 })
      .catch((error: unknown) => {
        // Say where the browser got stuck and what it complained about (a CSP violation, say).
        throw new Error(
          `the browser did not reach the callback; it is at ${page.url()} after ${shown.join(' → ')}; console: ${consoleLines.join(' | ')}`,
          { cause: error },
        );
      });
  } finally {
    page.off('response', onResponse);
    page.off('console', onConsole);
  }
  const received = callbacks.received[before];
  if (callbacks.received.length !== before + 1 || !received) {
    throw new Error(`expected one callback, got ${callbacks.received.length - before}`);
  }
  // As the RP's web framework would hand it over: the URL, or for form_post the whole request.
  const request = new Request(received.url, {
    method: received.method,
    ...(received.method === 'POST'
      ? { body: received.body, headers: { 'content-type': 'application/x-www-form-urlencoded' } }
      : {}),
  });
  return { callback: received.url, request, received, shown };
}

/**
 * The OAuth error a refused call ended with: `error` from the JSON body (ResponseBodyError), the
 * authorization response (AuthorizationResponseError) or the WWW-Authenticate challenge, and the status.
 */
export async function refusal(
  call: Promise<unknown>,
): Promise<{ error: string | undefined; status?: number }> {
  try {
    await call;
  } catch (error) {
    if (error instanceof client.ResponseBodyError) return { error: error.error, status: error.status };
    if (error instanceof client.AuthorizationResponseError) return { error: error.error };
    if (error instanceof client.WWWAuthenticateChallengeError) {
      const body = (await error.response.json().catch(() => ({}))) as { error?: string };
      return { error: body.error ?? error.cause[0]?.parameters.error, status: error.status };
    }
    throw error;
  }
  throw new Error('the call succeeded; a refusal was expected');
}
