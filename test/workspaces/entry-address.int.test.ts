import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NginxRouter } from '../../src/workspaces/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Nginx, startNginx } from '../support/docker.ts';
import { eventually, readyWorkspace, throughNginx, workspaceTicket } from './nginx-session.ts';

/** The key the rendered nginx vouches with (`warden serve` derives it from the key-encryption key). */
const NGINX_KEY = 'n'.repeat(43);
/** The browser's own address: nginx reaches Warden from 127.0.0.1, the browser comes from here. */
const BROWSER = '127.0.0.2';
/** What a browser writes to pass for someone else. */
const FORGED = '203.0.113.9';

/*
 * Where a browser entered a workspace from, as its user's list of sessions shows it
 * (`client_address`), when the browser comes through a real nginx rendered by Warden: the address
 * nginx saw, never nginx's own, never a forwarding header the browser wrote, whatever
 * WARDEN_TRUSTED_PROXY_HOPS says about the API's own proxies.
 */
for (const hops of [0, 1]) {
  describe(`the address a workspace session was entered from (WARDEN_TRUSTED_PROXY_HOPS=${hops})`, () => {
    let t: TestApp;
    let nginx: Nginx;
    let router: NginxRouter;
    let http: Awaited<ReturnType<TestApp['listening']>>;

    beforeAll(async () => {
      [t, nginx] = await Promise.all([
        testApp(freshPGlite, { env: { WARDEN_TRUSTED_PROXY_HOPS: String(hops) } }),
        startNginx(),
      ]);
      // The listening app nginx reaches (WARDEN_WORKSPACE_ACCESS_URL), knowing the key as `serve` does.
      http = await t.listening(t.variantApp({ workspaceNginxKey: NGINX_KEY }));
      router = new NginxRouter({
        db: t.database.db as never,
        target: { routesFile: nginx.routes, command: nginx.command },
        listen: `127.0.0.1:${nginx.port}`,
        domain: 'ws.example.com',
        accessUrl: http.base,
        nginxKey: NGINX_KEY,
        intervalMs: 100,
        logger: { info: () => {}, warn: () => {}, error: () => {} },
      });
      router.start();
    });
    afterAll(async () => {
      await router?.stop();
      await http?.close();
      await nginx?.stop();
      await t?.dispose();
    });

    /** The addresses the workspace's open sessions were entered from. */
    const enteredFrom = async (user: SignedInUser, workspaceId: string) => {
      const res = await t.request(`/v1/workspaces/${workspaceId}/sessions`, {
        token: user.token,
        tenant: user.tenantSlug,
      });
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: { client_address: string | null }[] };
      return page.items.map((item) => item.client_address);
    };

    it('records the address nginx saw the browser come from, by path and by host, not one it forged', async () => {
      const member = await t.user({ role: 'member' });
      const workspaceId = await readyWorkspace(t, member);
      const host = `${member.userId}.ws.example.com`;
      await eventually(
        () => throughNginx(nginx.port, { path: `/u/${member.userId}/` }),
        (r) => r.status === 401,
      );
      await nginx.settled(); // no old worker left to answer from the routes before this one
      for (const way of ['path', 'host'] as const) {
        const link = await workspaceTicket(t, member, workspaceId);
        const entered = await throughNginx(nginx.port, {
          from: BROWSER,
          ...(way === 'path' ? { path: link.path } : { path: link.host_path, host }),
          // A browser's own forwarding headers, and a guess at nginx's key: nginx replaces them all.
          headers: {
            'x-forwarded-for': FORGED,
            'x-forwarded-proto': 'https',
            'x-warden-nginx-key': 'x'.repeat(43),
          },
        });
        expect(entered.status, entered.body).toBe(303);
      }
      expect(await enteredFrom(member, workspaceId)).toEqual([BROWSER, BROWSER]);
    });

    it('believes no address from a browser that calls Warden’s entry itself with a forged key', async () => {
      const member = await t.user({ role: 'member' });
      const workspaceId = await readyWorkspace(t, member);
      const link = await workspaceTicket(t, member, workspaceId);
      const direct = await throughNginx(Number(new URL(http.base).port), {
        from: '127.0.0.3',
        path: `/workspace-access/enter?ticket=${link.ticket}`,
        // With nginx's key, the first entry would be taken as the peer nginx saw.
        headers: { 'x-forwarded-for': `198.51.100.7, ${FORGED}`, 'x-warden-nginx-key': 'x'.repeat(43) },
      });
      expect(direct.status, direct.body).toBe(303);
      // As for every other route: the socket's address, or with one trusted hop what that proxy wrote.
      expect(await enteredFrom(member, workspaceId)).toEqual([hops === 0 ? '127.0.0.3' : FORGED]);
    });
  });
}
