import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cookieValues } from '../../src/http/workspaces/access.ts';
import { fetchAllowed } from '../../src/workspaces/index.ts';

describe('the workspace session cookie, as the check reads it', () => {
  const name = fc.constantFrom('warden_workspace', 'warden_workspace2', 'session', 'Warden_workspace', 'x');
  const value = fc.stringMatching(/^[A-Za-z0-9_-]{0,50}$/);

  it('finds every value of its name, in order, whatever else the header holds (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(name, value), { maxLength: 8 }),
        fc.constantFrom('; ', ';', ' ; '),
        (pairs, separator) => {
          const header = pairs.map(([n, v]) => `${n}=${v}`).join(separator);
          expect(cookieValues(header, 'warden_workspace')).toEqual(
            pairs.filter(([n]) => n === 'warden_workspace').map(([, v]) => v),
          );
        },
      ),
      { numRuns: 300 },
    );
    expect(cookieValues(undefined, 'warden_workspace')).toEqual([]);
    expect(cookieValues('warden_workspace', 'warden_workspace')).toEqual([]);
    expect(cookieValues('=warden_workspace=x', 'warden_workspace')).toEqual([]);
  });
});

describe('Fetch Metadata: which browser requests a session lets through', () => {
  const ask = (site?: string, mode?: string, dest?: string, method?: string) =>
    fetchAllowed({ site, mode, dest, method });

  it('lets the workspace’s own pages, a typed address and a link in; refuses calls, posts and frames from elsewhere', () => {
    expect(ask()).toBe(true); // curl, an older browser: the cookie decides
    expect(ask('same-origin', 'cors', 'empty', 'POST')).toBe(true);
    expect(ask('none', 'navigate', 'document', 'GET')).toBe(true);
    for (const site of ['same-site', 'cross-site', 'CROSS-SITE']) {
      expect(ask(site, 'navigate', 'document', 'GET'), site).toBe(true);
      expect(ask(site, 'navigate', 'document', 'HEAD'), site).toBe(true);
      expect(ask(site, 'navigate', 'document', 'POST'), site).toBe(false);
      expect(ask(site, 'navigate', 'iframe', 'GET'), site).toBe(false);
      expect(ask(site, 'cors', 'empty', 'GET'), site).toBe(false);
      expect(ask(site, 'no-cors', 'image', 'GET'), site).toBe(false);
      expect(ask(site, 'websocket', 'websocket', 'GET'), site).toBe(false);
    }
  });
});
