/**
 * The authorization server's pages: sign-in, consent, errors and the form_post response. Plain HTML
 * with one nonce'd stylesheet and no script except form_post's auto-submit, under a CSP that allows
 * nothing else (no framing: clickjacking of the consent page is refused by the browser).
 */

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!,
  );

/** Scope descriptions shown on the consent page. */
const SCOPE_TEXT: Record<string, string> = {
  openid: 'Sign you in with your Warden account',
  profile: 'See your name',
  email: 'See your email address',
  offline_access: 'Stay signed in when you are away (refresh tokens)',
};
const describeScope = (scope: string) => {
  if (SCOPE_TEXT[scope]) return SCOPE_TEXT[scope];
  const [area, action] = scope.split(':');
  return `${action === 'read' ? 'Read' : action === 'manage' ? 'Manage' : `${action ?? ''}`} ${area ?? scope} in Warden`.replace(
    /^(\w)/,
    (m) => m.toUpperCase(),
  );
};

export interface Page {
  html: string;
  /** The Content-Security-Policy header the page needs. */
  csp: string;
}

function page(title: string, body: string, formAction: string[] = ["'self'"], script?: string): Page {
  const nonce = crypto.randomUUID().replaceAll('-', '');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title>
<style nonce="${nonce}">
body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;border-radius:12px;box-shadow:0 2px 12px #0002;padding:2rem;width:min(24rem,90vw)}
h1{font-size:1.3rem;margin:0 0 1rem}label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #bbc;border-radius:6px;font:inherit}
button{margin-top:1.25rem;padding:.6rem 1.2rem;border:0;border-radius:6px;font:inherit;cursor:pointer;background:#2156d1;color:#fff}
button.secondary{background:#e4e6eb;color:#1d2330;margin-left:.5rem}.error{color:#b00020;margin:.5rem 0}
ul{padding-left:1.2rem}small{color:#667}
</style></head><body><main>${body}</main>${script ? `<script nonce="${nonce}">${script}</script>` : ''}</body></html>`;
  const csp = [
    "default-src 'none'",
    `style-src 'nonce-${nonce}'`,
    ...(script ? [`script-src 'nonce-${nonce}'`] : []),
    `form-action ${formAction.join(' ')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
  return { html, csp };
}

/**
 * The CSP source that lets a form's answer redirect the browser to `redirectUri`. Browsers apply
 * `form-action` to the redirects that follow a form submission too (CSP 3 §6.3.1, as Chromium does), so
 * the sign-in and consent forms, whose answer may be a 303 to the client, must allow the client's
 * verified redirect URI: its origin, or its scheme alone for a native app's private-use scheme (whose
 * origin is opaque).
 */
export function formTargetOf(redirectUri: string): string {
  const url = new URL(redirectUri);
  return url.origin === 'null' ? url.protocol : url.origin;
}

export function loginPage(input: {
  action: string;
  /** The client's verified redirect URI, where the form's answer may send the browser. */
  redirectUri: string;
  interaction: string;
  csrf: string;
  tenantName: string;
  clientName: string;
  email?: string | undefined;
  error?: string | undefined;
}): Page {
  return page(
    `Sign in · ${input.tenantName}`,
    `<h1>Sign in to ${escapeHtml(input.tenantName)}</h1>
<p><small>${escapeHtml(input.clientName)} asks you to sign in with Warden.</small></p>
${input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : ''}
<form method="post" action="${escapeHtml(input.action)}">
<input type="hidden" name="interaction" value="${escapeHtml(input.interaction)}">
<input type="hidden" name="csrf" value="${escapeHtml(input.csrf)}">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required value="${escapeHtml(input.email ?? '')}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="sign-in">Sign in</button>
</form>`,
    ["'self'", formTargetOf(input.redirectUri)],
  );
}

export function consentPage(input: {
  action: string;
  /** The client's verified redirect URI, where the form's answer sends the browser. */
  redirectUri: string;
  interaction: string;
  csrf: string;
  clientName: string;
  userEmail: string;
  scopes: readonly string[];
}): Page {
  return page(
    `Allow ${input.clientName}?`,
    `<h1>Allow ${escapeHtml(input.clientName)}?</h1>
<p>Signed in as <strong>${escapeHtml(input.userEmail)}</strong>. ${escapeHtml(input.clientName)} asks to:</p>
<ul>${input.scopes.map((s) => `<li>${escapeHtml(describeScope(s))} <small>(${escapeHtml(s)})</small></li>`).join('')}</ul>
<p><small>You can withdraw this later; Warden remembers what you allow.</small></p>
<form method="post" action="${escapeHtml(input.action)}">
<input type="hidden" name="interaction" value="${escapeHtml(input.interaction)}">
<input type="hidden" name="csrf" value="${escapeHtml(input.csrf)}">
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny" class="secondary">Deny</button>
</form>`,
    ["'self'", formTargetOf(input.redirectUri)],
  );
}

export function errorPage(error: string, description: string): Page {
  return page(
    'Sign-in error',
    `<h1>This sign-in request cannot go on</h1><p class="error">${escapeHtml(error)}</p><p>${escapeHtml(description)}</p>
<p><small>Go back to the application and try again.</small></p>`,
    ["'none'"],
  );
}

/**
 * Asks the user before signing them out (OIDC RP-Initiated Logout 1.0 §3): a link or an image on
 * another site reaches end-session too, and must not end anyone's sign-in by itself.
 */
export function signOutPage(input: {
  action: string;
  csrf: string;
  userEmail: string | undefined;
  clientName: string | undefined;
  /** Carried through the form: where to go afterwards (already checked as registered) and the RP's state. */
  clientId: string | undefined;
  postLogoutRedirectUri: string | undefined;
  state: string | undefined;
}): Page {
  const hidden = (name: string, value: string | undefined) =>
    value === undefined ? '' : `<input type="hidden" name="${name}" value="${escapeHtml(value)}">\n`;
  return page(
    'Sign out?',
    `<h1>Sign out?</h1>
<p>${input.clientName ? `${escapeHtml(input.clientName)} asks to sign you out of Warden.` : 'Sign out of Warden?'}${
      input.userEmail ? ` You are signed in as <strong>${escapeHtml(input.userEmail)}</strong>.` : ''
    }</p>
<form method="post" action="${escapeHtml(input.action)}">
<input type="hidden" name="csrf" value="${escapeHtml(input.csrf)}">
${hidden('client_id', input.clientId)}${hidden('post_logout_redirect_uri', input.postLogoutRedirectUri)}${hidden('state', input.state)}<button type="submit" name="confirm" value="yes" id="sign-out">Sign out</button>
</form>`,
    ["'self'", ...(input.postLogoutRedirectUri ? [formTargetOf(input.postLogoutRedirectUri)] : [])],
  );
}

export function signedOutPage(): Page {
  return page('Signed out', '<h1>You are signed out</h1><p>You can close this window.</p>', ["'none'"]);
}

/** OAuth 2.0 Form Post Response Mode: the browser posts the answer to the client. */
export function formPostPage(redirectUri: string, params: Record<string, string>): Page {
  return page(
    'Continue',
    `<form method="post" action="${escapeHtml(redirectUri)}">
${Object.entries(params)
  .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
  .join('\n')}
<noscript><button type="submit">Continue</button></noscript></form>`,
    [formTargetOf(redirectUri)],
    'document.forms[0].submit()',
  );
}
