import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeUser } from '../../../src/commands/identity/index.ts';
import { base64url } from '../../../src/identity/tokens/crypto.ts';
import {
  issueAccessToken,
  KeyRotationTooSoonError,
  SIGNING_KEYS_STREAM,
  tokenFamilyStreamId,
  verifyAccessToken,
} from '../../../src/identity/tokens/index.ts';
import { databaseKinds } from '../../support/postgres.ts';
import { ACCESS_TTL, AUDIENCE, GRACE, ISSUER, tokenHarness } from './support.ts';

type Harness = Awaited<ReturnType<typeof tokenHarness>>;
type Pair = Awaited<ReturnType<Harness['login']>>;

const encode = (value: unknown) => base64url(new TextEncoder().encode(JSON.stringify(value)));

for (const kind of databaseKinds) {
  describe(`tokens (${kind.name})`, () => {
    let h: Harness;
    let acme: { id: string; slug: string };
    let globex: { id: string; slug: string };

    beforeAll(async () => {
      h = await tokenHarness(kind.fresh);
      acme = await h.tenant();
      globex = await h.tenant();
    });
    afterAll(async () => {
      await h?.dispose();
    });

    const signIn = async (role: 'member' | 'admin' = 'member', tenant = acme) => {
      const user = await h.user(tenant.id, role);
      return { user, pair: await h.login(tenant.slug, user.email, user.password) };
    };
    const me = (token: string, slug = acme.slug) => h.request(slug, '/v1/me', { token });
    const refresh = (token: string, slug = acme.slug) =>
      h.request(slug, '/v1/auth/refresh', { json: { refresh_token: token } });
    const expectInvalidToken = async (res: Response) => {
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    };

    it('logs in with email and password and answers /v1/me with the principal and its tenant', async () => {
      const { user, pair } = await signIn('admin');
      expect(pair).toMatchObject({ token_type: 'Bearer', expires_in: ACCESS_TTL });
      expect(pair.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const claims = decodeJwt(pair.access_token);
      expect(claims).toMatchObject({ iss: ISSUER, aud: AUDIENCE, sub: user.id, tid: acme.id, role: 'admin' });
      expect(claims.exp! - claims.iat!).toBe(ACCESS_TTL);
      expect(decodeProtectedHeader(pair.access_token)).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });

      const res = await me(pair.access_token);
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        user_id: user.id,
        tenant: { id: acme.id, slug: acme.slug },
        role: 'admin',
        platform_superadmin: false,
      });
      expect(body.permissions).toContain('users:manage');
      expect(body.permissions).not.toContain('tenant:manage');
      expect((await h.request(acme.slug, '/v1/guarded', { token: pair.access_token })).status).toBe(200);
    });

    it('answers a wrong password and an unknown email with the same 401', async () => {
      const user = await h.user(acme.id);
      const wrong = await h.request(acme.slug, '/v1/auth/login', {
        json: { email: user.email, password: 'not the password' },
      });
      const unknown = await h.request(acme.slug, '/v1/auth/login', {
        json: { email: 'nobody@example.com', password: 'not the password' },
      });
      expect(wrong.status).toBe(401);
      expect(unknown.status).toBe(401);
      expect(await wrong.json()).toEqual(await unknown.json());
      const malformed = await h.request(acme.slug, '/v1/auth/login', {
        json: { email: 'not-an-email', password: 'x' },
      });
      expect(malformed.status).toBe(400);
    });

    it('lets only the owner sign in to a suspended tenant', async () => {
      const initech = await h.tenant();
      const owner = await h.user(initech.id, 'owner');
      const member = await h.user(initech.id, 'member');
      await h.suspend(initech.id);
      const login = (u: { email: string; password: string }) =>
        h.request(initech.slug, '/v1/auth/login', { json: { email: u.email, password: u.password } });
      expect((await login(member)).status).toBe(403);
      expect((await login(owner)).status).toBe(200);
    });

    it('refuses a suspended tenant’s member a refresh (403, the token kept for after reactivation); its owner and the superadmin refresh', async () => {
      const initech = await h.tenant();
      const member = await h.user(initech.id, 'member');
      const owner = await h.user(initech.id, 'owner');
      const root = await h.register({ tenantId: initech.id, role: 'admin', platformSuperadmin: true });
      const logIn = (u: { email: string; password: string }) => h.login(initech.slug, u.email, u.password);
      const [memberPair, ownerPair, rootPair] = await Promise.all([logIn(member), logIn(owner), logIn(root)]);
      await h.suspend(initech.id);
      const familyEvents = async (pair: Pair) =>
        (await h.store.readStream(tokenFamilyStreamId(decodeJwt(pair.access_token).sid as string))).map(
          (e) => e.type,
        );

      const refused = await refresh(memberPair.refresh_token, initech.slug);
      expect(refused.status).toBe(403);
      expect(refused.headers.get('content-type')).toBe('application/problem+json');
      expect(await refused.json()).toMatchObject({ type: '/problems/tenant-suspended' });
      // Nothing used up, rotated or revoked: a suspension is undone by reactivating the tenant.
      expect((await refresh(memberPair.refresh_token, initech.slug)).status).toBe(403);
      expect(await familyEvents(memberPair)).toEqual(['TokenFamilyIssued']);
      // A tenant-less refresh finds no tenant at all (the route is tenant-scoped).
      const bare = await h.app.request('http://localhost/v1/auth/refresh', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: memberPair.refresh_token }),
      });
      expect(bare.status).toBe(404);

      // As at sign-in, the owner and the platform superadmin keep their sessions.
      expect((await refresh(ownerPair.refresh_token, initech.slug)).status).toBe(200);
      expect((await refresh(rootPair.refresh_token, initech.slug)).status).toBe(200);

      const superadmin = await h.superadmin();
      const reactivated = await h.app.request(`http://localhost/v1/tenants/${initech.id}/reactivate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${superadmin.token}` },
      });
      expect(reactivated.status).toBe(200);
      await h.engine.waitFor(['tenantList'], BigInt(reactivated.headers.get('x-position') ?? '0'), 5000);
      h.advance(2);
      expect((await refresh(memberPair.refresh_token, initech.slug)).status).toBe(200);
      expect(await familyEvents(memberPair)).toEqual(['TokenFamilyIssued', 'TokenFamilyRotated']);
    });

    it('goes on without a principal when no token is sent, so requirePermission answers 401', async () => {
      expect((await h.request(acme.slug, '/v1/guarded')).status).toBe(401);
      expect((await h.request(acme.slug, '/v1/me')).status).toBe(401);
    });

    it('refuses expired, tampered, alg none, HS256, unknown-key, wrong-audience and wrong-issuer tokens', async () => {
      const { user, pair } = await signIn();
      const claims = decodeJwt(pair.access_token);
      const header = decodeProtectedHeader(pair.access_token);
      const [h64, p64, s64] = pair.access_token.split('.');
      const tampered = `${h64}.${encode({ ...claims, role: 'owner' })}.${s64}`;
      const none = `${encode({ ...header, alg: 'none' })}.${p64}.`;
      const hmac = await new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'HS256', kid: header.kid!, typ: 'at+jwt' })
        .sign(new TextEncoder().encode('a secret anyone could guess'));
      const stranger = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const unknownKey = await new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'EdDSA', kid: 'not-ours', typ: 'at+jwt' })
        .sign(stranger.privateKey);
      const forged = await new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'EdDSA', kid: header.kid!, typ: 'at+jwt' })
        .sign(stranger.privateKey);
      const session = {
        userId: user.id,
        tenantId: acme.id,
        role: 'member' as const,
        platformSuperadmin: false,
      };
      const familyId = claims.sid as string;
      const wrongAudience = await issueAccessToken(
        h.keys,
        { issuer: ISSUER, audience: 'another-api', ttlSeconds: ACCESS_TTL },
        { ...session, familyId },
        h.clock(),
      );
      const wrongIssuer = await issueAccessToken(
        h.keys,
        { issuer: 'https://evil.test', audience: AUDIENCE, ttlSeconds: ACCESS_TTL },
        { ...session, familyId },
        h.clock(),
      );
      for (const token of [
        tampered,
        none,
        hmac,
        unknownKey,
        forged,
        wrongAudience.token,
        wrongIssuer.token,
        'garbage',
      ]) {
        await expectInvalidToken(await me(token));
      }
      const scheme = await h.app.request('http://localhost/v1/me', {
        headers: { 'x-tenant': acme.slug, authorization: `Basic ${btoa('a:b')}` },
      });
      await expectInvalidToken(scheme);
      expect((await me(pair.access_token)).status).toBe(200);

      h.advance(ACCESS_TTL + 1);
      await expectInvalidToken(await me(pair.access_token));
      const verdict = await verifyAccessToken(
        h.keys,
        { issuer: ISSUER, audience: AUDIENCE },
        pair.access_token,
        h.clock(),
      );
      expect(verdict).toEqual({ ok: false, reason: 'expired' });
    });

    it('refuses a token of one tenant in another', async () => {
      const { pair } = await signIn();
      await expectInvalidToken(await me(pair.access_token, globex.slug));
      expect((await me(pair.access_token, acme.slug)).status).toBe(200);
    });

    it('rotates the refresh token on every use; the new pair works', async () => {
      const { pair } = await signIn();
      const res = await refresh(pair.refresh_token);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const next = (await res.json()) as Pair;
      expect(next.refresh_token).not.toBe(pair.refresh_token);
      expect(decodeJwt(next.access_token).sid).toBe(decodeJwt(pair.access_token).sid);
      expect((await me(next.access_token)).status).toBe(200);
      expect((await refresh(next.refresh_token)).status).toBe(200);
    });

    it('rejects a reused refresh token outside the grace window and revokes its whole family', async () => {
      const { pair } = await signIn();
      const sid = decodeJwt(pair.access_token).sid as string;
      const next = (await (await refresh(pair.refresh_token)).json()) as Pair;
      h.advance(GRACE + 1);
      const reuse = await refresh(pair.refresh_token);
      expect(reuse.status).toBe(401);
      expect((await reuse.json()) as object).toMatchObject({
        type: '/problems/invalid-refresh-token',
      });
      expect((await refresh(next.refresh_token)).status).toBe(401);
      await expectInvalidToken(await me(next.access_token));

      const events = await h.store.readStream(tokenFamilyStreamId(sid));
      expect(events.map((e) => e.type)).toEqual([
        'TokenFamilyIssued',
        'TokenFamilyRotated',
        'TokenFamilyRevoked',
      ]);
      expect(events[2]?.data).toMatchObject({ familyId: sid, reason: 'reuse_detected' });
      const stored = JSON.stringify(events.map((e) => [e.data, e.metadata]));
      for (const secret of [pair.refresh_token, next.refresh_token, pair.access_token, next.access_token]) {
        expect(stored).not.toContain(secret);
      }
    });

    it('gives two concurrent refreshes of one token the same successor pair, which then keeps working', async () => {
      const { pair } = await signIn();
      const [a, b] = await Promise.all([refresh(pair.refresh_token), refresh(pair.refresh_token)]);
      expect([a.status, b.status]).toEqual([200, 200]);
      const [first, second] = (await Promise.all([a.json(), b.json()])) as [Pair, Pair];
      expect(second).toEqual(first);
      h.advance(GRACE - 1);
      expect((await refresh(pair.refresh_token)).status).toBe(200);
      expect((await me(first.access_token)).status).toBe(200);
      expect((await refresh(first.refresh_token)).status).toBe(200);
    });

    it('rotates a token exactly once under ten parallel refreshes: all get one successor, one rotation is recorded', async () => {
      const { pair } = await signIn();
      const answers = await Promise.all(Array.from({ length: 10 }, () => refresh(pair.refresh_token)));
      expect(answers.map((r) => r.status)).toEqual(Array(10).fill(200));
      const pairs = (await Promise.all(answers.map((r) => r.json()))) as Pair[];
      expect(new Set(pairs.map((p) => p.refresh_token)).size).toBe(1);
      const events = await h.store.readStream(
        tokenFamilyStreamId(decodeJwt(pair.access_token).sid as string),
      );
      expect(events.filter((e) => e.type === 'TokenFamilyRotated')).toHaveLength(1);
    });

    it('replays within the grace window for the immediate predecessor only', async () => {
      const { pair } = await signIn();
      const second = (await (await refresh(pair.refresh_token)).json()) as Pair;
      const third = (await (await refresh(second.refresh_token)).json()) as Pair;
      expect((await refresh(pair.refresh_token)).status).toBe(401);
      expect((await refresh(third.refresh_token)).status).toBe(401);
    });

    it('gives the next access token the role the user has now, and ends the family of a removed user', async () => {
      const { user, pair } = await signIn('member');
      const context = { metadata: { tenantId: acme.id } };
      await changeUser(
        h.store,
        acme.id,
        user.id,
        { type: 'ChangeRole', role: 'approver', actorIsOwner: false, at: h.clock().toISOString() },
        context,
      );
      const promoted = (await (await refresh(pair.refresh_token)).json()) as Pair;
      expect(decodeJwt(promoted.access_token).role).toBe('approver');

      await changeUser(
        h.store,
        acme.id,
        user.id,
        { type: 'RemoveUser', actorIsOwner: false, at: h.clock().toISOString() },
        context,
      );
      expect((await refresh(promoted.refresh_token)).status).toBe(401);
      await expectInvalidToken(await me(promoted.access_token));
      const events = await h.store.readStream(
        tokenFamilyStreamId(decodeJwt(pair.access_token).sid as string),
      );
      expect(events.at(-1)?.data).toMatchObject({ reason: 'user_gone' });
    });

    it('does not accept a refresh token in another tenant, and does not revoke it for that', async () => {
      const { pair } = await signIn();
      expect((await refresh(pair.refresh_token, globex.slug)).status).toBe(401);
      expect((await refresh(pair.refresh_token, acme.slug)).status).toBe(200);
    });

    it('expires an idle refresh token and every family at its absolute lifetime', async () => {
      const idle = await signIn();
      h.advance(7 * 86400 + 1);
      expect((await refresh(idle.pair.refresh_token)).status).toBe(401);

      let current = (await signIn()).pair;
      for (let day = 0; day < 5; day++) {
        h.advance(6 * 86400);
        const res = await refresh(current.refresh_token);
        if (day < 4) {
          expect(res.status).toBe(200);
          current = (await res.json()) as Pair;
        } else {
          expect(res.status).toBe(401);
        }
      }
    });

    it('logs out: 204, the access token is refused until it expires, and the refresh family is revoked', async () => {
      const { user, pair } = await signIn();
      const other = await h.login(acme.slug, user.email, user.password);
      const out = await h.request(acme.slug, '/v1/auth/logout', { method: 'POST', token: pair.access_token });
      expect(out.status).toBe(204);
      await expectInvalidToken(await me(pair.access_token));
      expect((await refresh(pair.refresh_token)).status).toBe(401);
      expect((await me(other.access_token)).status).toBe(200);
      expect((await h.request(acme.slug, '/v1/auth/logout', { method: 'POST' })).status).toBe(401);
      const events = await h.store.readStream(
        tokenFamilyStreamId(decodeJwt(pair.access_token).sid as string),
      );
      expect(events.at(-1)?.data).toMatchObject({ reason: 'logout' });
    });

    it('publishes a pending key before it signs, and verifies tokens of the retired key after rotation', async () => {
      // Start from a pending key published just now (earlier tests moved the clock past any wait).
      await h.keys.rotate({ force: true });
      const { pair } = await signIn();
      const before = await h.keys.list();
      const active = before.find((k) => k.state === 'active')!;
      const pending = before.find((k) => k.state === 'pending')!;
      expect(decodeProtectedHeader(pair.access_token).kid).toBe(active.kid);
      const jwks = async () => {
        const res = await h.request(acme.slug, '/.well-known/jwks.json');
        expect(res.headers.get('cache-control')).toBe('public, max-age=60');
        return ((await res.json()) as { keys: { kid: string; alg: string; d?: string }[] }).keys;
      };
      const published = await jwks();
      expect(published.map((k) => k.kid)).toEqual(expect.arrayContaining([active.kid, pending.kid]));
      expect(published.every((k) => k.alg === 'EdDSA' && k.d === undefined)).toBe(true);

      await expect(h.keys.rotate()).rejects.toBeInstanceOf(KeyRotationTooSoonError);
      h.advance(61);
      const rotation = await h.keys.rotate();
      expect(rotation).toMatchObject({ activated: pending.kid, retired: active.kid });
      const audit = await h.store.readStream(SIGNING_KEYS_STREAM, { direction: 'backwards', limit: 1 });
      expect(audit[0]?.data).toMatchObject({ ...rotation });
      expect(JSON.stringify(audit[0]?.data)).not.toMatch(/"d"|"x"/);

      const { user } = await signIn();
      const after = await h.login(acme.slug, user.email, user.password);
      expect(decodeProtectedHeader(after.access_token).kid).toBe(pending.kid);
      expect((await me(pair.access_token)).status).toBe(200);
      expect((await jwks()).map((k) => k.kid)).toEqual(
        expect.arrayContaining([active.kid, pending.kid, rotation.pending]),
      );

      h.advance(ACCESS_TTL + 60 + 60 + 1);
      expect((await jwks()).map((k) => k.kid)).not.toContain(active.kid);
    });

    it('stores private keys sealed, and puts no token in any log line', async () => {
      const rows = await sql<{ private_key: string }>`select private_key from warden_signing_keys`.execute(
        h.database.db,
      );
      expect(rows.rows.length).toBeGreaterThan(0);
      for (const row of rows.rows) {
        expect(row.private_key).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
        expect(row.private_key).not.toContain('"d"');
      }
      const { pair } = await signIn();
      await refresh(pair.refresh_token);
      const log = h.lines.join('\n');
      expect(log).not.toContain(pair.refresh_token);
      expect(log).not.toContain(pair.access_token);
    });
  });
}
