import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../kit/index.ts';

/**
 * What a reset link opens (a verification link's page is alike, with a button instead of the form): a form for the new password. The token stays in the URL's fragment (the
 * browser never sends it, so no log on the way sees it); the page's one script reads it and calls
 * `POST /v1/password/reset` beside it. Under a CSP that allows that script, its style and a
 * same-origin request, and nothing else.
 */
const script = `
const form = document.getElementById('reset');
const say = (text) => { document.getElementById('status').textContent = text; };
const token = new URLSearchParams(location.hash.slice(1)).get('token');
if (!token) { say('This link is incomplete: open the whole link from the mail.'); form.hidden = true; }
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const password = document.getElementById('password').value;
  const res = await fetch(new URL('../v1/password/reset', location.href), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, password }),
  });
  if (res.status === 204) { history.replaceState(null, '', location.pathname); form.hidden = true; say('Your password is set. Sign in with it.'); return; }
  const problem = await res.json().catch(() => ({}));
  say((problem.errors && problem.errors[0] && problem.errors[0].path + ' ' + problem.errors[0].message) || problem.detail || 'The password could not be set.');
});`;

const verifyScript = `
const token = new URLSearchParams(location.hash.slice(1)).get('token');
const say = (text) => { document.getElementById('status').textContent = text; };
document.getElementById('verify').addEventListener('click', async (event) => {
  event.target.hidden = true;
  const res = await fetch(new URL('../v1/auth/verify-email', location.href), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  if (res.status === 204) { history.replaceState(null, '', location.pathname); say('Your email is verified. Sign in now.'); return; }
  const problem = await res.json().catch(() => ({}));
  say(problem.detail || 'The email could not be verified.');
});`;

/** Serves `html` with a CSP allowing its nonce'd style and script and same-origin requests only. */
function page(c: Context<AppEnv>, title: string, body: string, code: string) {
  const nonce = crypto.randomUUID().replaceAll('-', '');
  c.header(
    'Content-Security-Policy',
    [
      "default-src 'none'",
      `style-src 'nonce-${nonce}'`,
      `script-src 'nonce-${nonce}'`,
      "connect-src 'self'",
      "form-action 'none'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ].join('; '),
  );
  c.header('Cache-Control', 'no-store');
  return c.html(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${title}</title>
<style nonce="${nonce}">body{font:16px/1.5 system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}
input{width:100%;box-sizing:border-box;padding:.6rem;font:inherit}button{margin-top:1rem;padding:.6rem 1.2rem;font:inherit}</style>
</head><body><h1>${title}</h1>${body}<p id="status" role="status"></p>
<script nonce="${nonce}">${code}</script></body></html>`);
}

/** The pages reset and verification links open. */
export function passwordPageRoutes() {
  const app = new OpenAPIHono<AppEnv>();
  // Pages, not API: described in /openapi.json so that every served route is, and served plainly.
  for (const [path, summary] of [
    ['/email/verify', 'The page a verification link opens (it posts the token from the fragment)'],
    ['/password/reset', 'The page a reset link opens: a form for the new password'],
  ] as const) {
    app.openAPIRegistry.registerPath({
      method: 'get',
      path,
      tags: ['Auth'],
      summary,
      responses: { 200: { description: 'HTML', content: { 'text/html': { schema: z.string() } } } },
    });
  }
  app.get('/email/verify', (c) =>
    page(c, 'Verify your email', '<button id="verify" type="button">Verify my email</button>', verifyScript),
  );
  app.get('/password/reset', (c) => {
    return page(
      c,
      'Choose a new password',
      `<form id="reset"><label for="password">New password (8 to 256 characters)</label>
<input id="password" type="password" autocomplete="new-password" minlength="8" maxlength="256" required>
<button type="submit">Set password</button></form>`,
      script,
    );
  });
  return app;
}
