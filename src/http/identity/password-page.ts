import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../kit/index.ts';

/**
 * What a reset link opens: a form for the new password. The token stays in the URL's fragment (the
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

export function passwordPageRoutes() {
  const app = new OpenAPIHono<AppEnv>();
  app.get('/password/reset', (c) => {
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
<meta name="referrer" content="no-referrer"><title>Choose a new password</title>
<style nonce="${nonce}">body{font:16px/1.5 system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}
input{width:100%;box-sizing:border-box;padding:.6rem;font:inherit}button{margin-top:1rem;padding:.6rem 1.2rem;font:inherit}</style>
</head><body><h1>Choose a new password</h1>
<form id="reset"><label for="password">New password (8 to 256 characters)</label>
<input id="password" type="password" autocomplete="new-password" minlength="8" maxlength="256" required>
<button type="submit">Set password</button></form><p id="status" role="status"></p>
<script nonce="${nonce}">${script}</script></body></html>`);
  });
  return app;
}
