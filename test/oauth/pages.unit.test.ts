import { describe, expect, it } from 'vitest';
import { consentPage, formPostPage, formTargetOf, loginPage } from '../../src/oauth/pages.ts';

const formAction = (csp: string) =>
  csp
    .split('; ')
    .find((d) => d.startsWith('form-action '))
    ?.slice('form-action '.length)
    .split(' ');

const common = { action: '/t/acme/oauth/authorize/login', interaction: 'i', csrf: 'c' };

describe('the sign-in and consent pages’ form-action', () => {
  // Browsers apply form-action to the redirects after a submission too: the 303 to the client's
  // redirect URI would be blocked (Chromium: "Sending form data to … violates … form-action 'self'").
  it('allows the page itself and the client’s verified redirect URI (its origin), nothing else', () => {
    const redirectUri = 'https://app.example.com:8443/callback?x=1';
    const login = loginPage({ ...common, redirectUri, tenantName: 'acme', clientName: 'App' });
    const consent = consentPage({
      ...common,
      redirectUri,
      clientName: 'App',
      userEmail: 'a@example.com',
      scopes: ['openid'],
    });
    for (const page of [login, consent]) {
      expect(formAction(page.csp)).toEqual(["'self'", 'https://app.example.com:8443']);
    }
  });

  it('names a native app’s private-use scheme alone (its origin is opaque), also for form_post', () => {
    expect(formTargetOf('com.example.app:/oauth/callback')).toBe('com.example.app:');
    expect(formTargetOf('http://127.0.0.1:5555/cb')).toBe('http://127.0.0.1:5555');
    const page = formPostPage('com.example.app:/oauth/callback', { code: 'x' });
    expect(formAction(page.csp)).toEqual(['com.example.app:']);
    expect(page.csp).not.toContain('null');
  });
});
