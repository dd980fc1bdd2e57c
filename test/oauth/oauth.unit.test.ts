import fc from 'fast-check';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { permissionsOf } from '../../src/commands/identity/index.ts';
import {
  type ClientEvent,
  type ClientSettings,
  clientDecider,
  consentDecider,
  coversScopes,
  redirectUriProblem,
} from '../../src/commands/oauth/index.ts';
import { s256 } from '../../src/oauth/codes.ts';
import { accessTokenHash, verifyDpopProof } from '../../src/oauth/dpop.ts';
import { OAuthError } from '../../src/oauth/errors.ts';
import { specFor } from '../support/decider-spec.ts';
import { machineClientSettings } from './support.ts';

const clientId = '0b7a6f3e-2c1d-4e5f-8a9b-0c1d2e3f4a5b';
const tenantId = '1c8b7a4f-3d2e-4f60-9bac-1d2e3f4a5b6c';
const at = '2026-12-01T10:00:00.000Z';
const settings: ClientSettings = {
  ...machineClientSettings,
  name: 'Web',
  redirectUris: ['https://app.example.com/cb'],
  grantTypes: ['authorization_code', 'refresh_token'],
  scopes: ['openid', 'email'],
};
const hash = 'a'.repeat(43);
const registered: ClientEvent = {
  type: 'OAuthClientRegistered',
  data: { clientId, tenantId, type: 'confidential', ...settings, secretHash: hash, at },
};
const spec = specFor(clientDecider);
/** The owner's permissions: what the caller registering these clients may hand on. */
const grantable = [...permissionsOf('owner')];

describe('client decider', () => {
  it('registers a client once; the second registration is a conflict', () => {
    spec
      .given([])
      .when({
        type: 'RegisterClient',
        clientId,
        tenantId,
        clientType: 'confidential',
        settings,
        secretHash: hash,
        grantable,
        at,
      })
      .thenEvents([registered]);
    spec
      .given([registered])
      .when({
        type: 'RegisterClient',
        clientId,
        tenantId,
        clientType: 'confidential',
        settings,
        secretHash: hash,
        grantable,
        at,
      })
      .thenFails('CONFLICT');
  });

  it('refuses settings that do not fit together', () => {
    const register = (
      s: Partial<ClientSettings>,
      type: 'public' | 'confidential' = 'confidential',
      secret: string | null = hash,
    ) =>
      spec.given([]).when({
        type: 'RegisterClient',
        clientId,
        tenantId,
        clientType: type,
        settings: { ...settings, ...s },
        secretHash: secret,
        grantable,
        at,
      });
    register({ redirectUris: [] }).thenFails('INVALID');
    register(
      { grantTypes: ['client_credentials'], tokenEndpointAuthMethod: 'none' },
      'public',
      null,
    ).thenFails('INVALID');
    register({ tokenEndpointAuthMethod: 'none' }).thenFails('INVALID');
    register({ tokenEndpointAuthMethod: 'client_secret_basic' }, 'confidential', null).thenFails('INVALID');
    register({ tokenEndpointAuthMethod: 'private_key_jwt' }).thenFails('INVALID');
    register({ grantTypes: ['refresh_token', 'client_credentials'] }).thenFails('INVALID');
    register(
      { grantTypes: ['password'], tokenEndpointAuthMethod: 'none', redirectUris: [] },
      'public',
      null,
    ).thenFails('INVALID');
  });

  it('gives a client no scope its registering caller lacks (OpenID scopes aside), nor owner-only ones to client credentials', () => {
    const admin = [...permissionsOf('admin')];
    const register = (s: Partial<ClientSettings>, held: string[]) =>
      spec.given([]).when({
        type: 'RegisterClient',
        clientId,
        tenantId,
        clientType: 'confidential',
        settings: { ...settings, ...s },
        secretHash: hash,
        grantable: held,
        at,
      });
    register({ scopes: ['openid', 'tenant:manage'] }, admin).thenFails('FORBIDDEN');
    register({ scopes: ['openid', 'users:read'] }, ['clients:manage']).thenFails('FORBIDDEN');
    register({ scopes: ['openid', 'profile', 'email', 'offline_access'] }, []).thenEvents([
      {
        type: 'OAuthClientRegistered',
        data: {
          ...registered.data,
          scopes: ['openid', 'profile', 'email', 'offline_access'],
        },
      } as ClientEvent,
    ]);
    // The owner holds tenant:manage, yet a client acting for itself never gets it.
    const machine = { grantTypes: ['client_credentials' as const], redirectUris: [] };
    register({ ...machine, scopes: ['users:manage', 'tenant:manage'] }, grantable).thenFails('INVALID');
    register({ ...machine, scopes: ['users:manage'] }, admin).thenEvents([
      {
        type: 'OAuthClientRegistered',
        data: { ...registered.data, ...machine, scopes: ['users:manage'] },
      } as ClientEvent,
    ]);
    let refusal: unknown;
    try {
      clientDecider.decide(
        {
          type: 'RegisterClient',
          clientId,
          tenantId,
          clientType: 'confidential',
          settings: { ...settings, scopes: ['openid', 'users:manage', 'tenant:manage'] },
          secretHash: hash,
          grantable: admin,
          at,
        },
        clientDecider.initialState(),
      );
    } catch (e) {
      refusal = e;
    }
    expect(refusal).toMatchObject({
      code: 'FORBIDDEN',
      detail: { errors: [{ path: 'scopes', message: expect.stringContaining('tenant:manage') }] },
    });
    expect(JSON.stringify(refusal)).not.toContain('users:manage');
  });

  it('checks every scope change against the caller, and owner-only scopes against a new client_credentials grant', () => {
    const withTenantManage: ClientEvent = {
      type: 'OAuthClientRegistered',
      data: { ...registered.data, scopes: ['openid', 'tenant:manage'] },
    } as ClientEvent;
    const update = (changes: Partial<ClientSettings>, held: string[]) =>
      spec
        .given([withTenantManage])
        .when({ type: 'UpdateClient', clientId, tenantId, changes, grantable: held, at });
    const admin = [...permissionsOf('admin')];
    update({ scopes: ['openid', 'tenant:manage', 'users:read'] }, admin).thenFails('FORBIDDEN');
    update({ name: 'Renamed' }, admin).thenEvents([
      { type: 'OAuthClientUpdated', data: { clientId, tenantId, changes: { name: 'Renamed' }, at } },
    ]);
    update({ scopes: ['openid'] }, admin).thenEvents([
      { type: 'OAuthClientUpdated', data: { clientId, tenantId, changes: { scopes: ['openid'] }, at } },
    ]);
    update({ grantTypes: ['authorization_code', 'client_credentials'] }, grantable).thenFails('INVALID');
  });

  it('changes only what differs, rotates secrets of confidential clients, and forgets a deleted client', () => {
    spec
      .given([registered])
      .when({ type: 'UpdateClient', clientId, tenantId, changes: { name: 'Web' }, grantable, at })
      .thenEvents([]);
    spec
      .given([registered])
      .when({
        type: 'UpdateClient',
        clientId,
        tenantId,
        changes: { name: 'Portal', scopes: ['openid', 'email'] },
        grantable,
        at,
      })
      .thenEvents([
        { type: 'OAuthClientUpdated', data: { clientId, tenantId, changes: { name: 'Portal' }, at } },
      ]);
    spec
      .given([registered])
      .when({
        type: 'UpdateClient',
        clientId,
        tenantId: '2d9c8b5a-4e3f-4071-8cbd-2e3f4a5b6c7d',
        changes: { name: 'x' },
        grantable,
        at,
      })
      .thenFails('NOT_FOUND');
    const rotated: ClientEvent = {
      type: 'OAuthClientSecretRotated',
      data: {
        clientId,
        tenantId,
        secretHash: 'b'.repeat(43),
        previousValidUntil: '2026-12-01T11:00:00.000Z',
        at,
      },
    };
    spec
      .given([registered])
      .when({
        type: 'RotateClientSecret',
        clientId,
        tenantId,
        secretHash: 'b'.repeat(43),
        previousValidUntil: '2026-12-01T11:00:00.000Z',
        at,
      })
      .thenEvents([rotated]);
    const state = [registered, rotated].reduce(clientDecider.evolve, clientDecider.initialState());
    expect(state).toMatchObject({ secretHash: 'b'.repeat(43), previousSecretHash: hash });
    const deleted: ClientEvent = { type: 'OAuthClientDeleted', data: { clientId, tenantId, at } };
    spec
      .given([registered, deleted])
      .when({ type: 'UpdateClient', clientId, tenantId, changes: { name: 'x' }, grantable, at })
      .thenFails('NOT_FOUND');
    spec
      .given([registered, deleted])
      .when({ type: 'DeleteClient', clientId, tenantId, at })
      .thenFails('NOT_FOUND');
  });

  it('folds a registration made before `introspection` existed to "own"; only an update changes it', () => {
    const { introspection: _, ...legacyData } = registered.data;
    const legacy = { type: 'OAuthClientRegistered', data: legacyData } as ClientEvent;
    const fold = (events: ClientEvent[]) =>
      events.reduce(clientDecider.evolve, clientDecider.initialState()).introspection;
    expect(fold([legacy])).toBe('own');
    const widened: ClientEvent = {
      type: 'OAuthClientUpdated',
      data: { clientId, tenantId, changes: { introspection: 'tenant' }, at },
    };
    spec
      .given([legacy])
      .when({ type: 'UpdateClient', clientId, tenantId, changes: { introspection: 'tenant' }, grantable, at })
      .thenEvents([widened]);
    expect(fold([legacy, widened])).toBe('tenant');
    expect(fold([legacy, widened, { ...widened, data: { ...widened.data, changes: { name: 'x' } } }])).toBe(
      'tenant',
    );
  });

  it('compares redirect URIs as RFC 9700 wants: https, loopback http, private-use schemes for public clients only', () => {
    expect(redirectUriProblem('https://app.example.com/cb?x=1', 'confidential')).toBeUndefined();
    expect(redirectUriProblem('http://127.0.0.1:9000/cb', 'confidential')).toBeUndefined();
    expect(redirectUriProblem('http://[::1]/cb', 'public')).toBeUndefined();
    expect(redirectUriProblem('com.example.app:/cb', 'public')).toBeUndefined();
    expect(redirectUriProblem('com.example.app:/cb', 'confidential')).toBeDefined();
    for (const bad of [
      'http://app.example.com/cb',
      'https://a.example/cb#x',
      '/relative',
      'javascript:alert(1)',
      'https://user:pw@a.example/',
      'https://*.example.com/',
    ]) {
      expect(redirectUriProblem(bad, 'public'), bad).toBeDefined();
    }
  });

  it('property: any http(s) URI is accepted only when https or loopback, never with a fragment', () => {
    fc.assert(
      fc.property(fc.webUrl({ withFragments: true, withQueryParameters: true }), (url) => {
        const problem = redirectUriProblem(url, 'confidential');
        const parsed = new URL(url);
        const fine =
          !url.includes('#') &&
          !url.includes('*') &&
          !parsed.username &&
          !parsed.password &&
          (parsed.protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname));
        expect(problem === undefined).toBe(fine);
      }),
      { numRuns: 500 },
    );
  });

  it('property: a command sequence never leaves a deleted client changeable nor a public one with a secret', () => {
    const command = fc.oneof(
      fc.constant({
        type: 'UpdateClient' as const,
        clientId,
        tenantId,
        changes: { name: 'N' },
        grantable,
        at,
      }),
      fc.constant({
        type: 'RotateClientSecret' as const,
        clientId,
        tenantId,
        secretHash: 'c'.repeat(43),
        previousValidUntil: null,
        at,
      }),
      fc.constant({ type: 'DeleteClient' as const, clientId, tenantId, at }),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(command, { maxLength: 12 }), (isPublic, commands) => {
        let state = clientDecider.initialState();
        const first = clientDecider.decide(
          {
            type: 'RegisterClient',
            clientId,
            tenantId,
            clientType: isPublic ? 'public' : 'confidential',
            settings: isPublic ? { ...settings, tokenEndpointAuthMethod: 'none' } : settings,
            secretHash: isPublic ? null : hash,
            grantable,
            at,
          },
          state,
        );
        state = first.reduce(clientDecider.evolve, state);
        for (const c of commands) {
          const wasDeleted = state.status === 'deleted';
          try {
            state = clientDecider.decide(c, state).reduce(clientDecider.evolve, state);
            expect(wasDeleted).toBe(false);
          } catch {
            // refused: nothing changes
          }
          if (isPublic) expect(state.secretHash).toBeNull();
        }
      }),
    );
  });
});

describe('consent decider', () => {
  const consentSpec = specFor(consentDecider);
  const userId = '3e0d9c6b-5f40-4182-9dce-3f4a5b6c7d8e';
  const granted = {
    type: 'OAuthConsentGranted' as const,
    data: { tenantId, userId, clientId, scopes: ['email', 'openid'], at },
  };
  it('accumulates scopes, repeats nothing, and forgets on revocation', () => {
    consentSpec
      .given([])
      .when({ type: 'GrantConsent', tenantId, userId, clientId, scopes: ['openid', 'email'], at })
      .thenEvents([granted]);
    consentSpec
      .given([granted])
      .when({ type: 'GrantConsent', tenantId, userId, clientId, scopes: ['openid'], at })
      .thenEvents([]);
    consentSpec
      .given([granted])
      .when({ type: 'GrantConsent', tenantId, userId, clientId, scopes: ['profile'], at })
      .thenEvents([
        {
          type: 'OAuthConsentGranted',
          data: { tenantId, userId, clientId, scopes: ['email', 'openid', 'profile'], at },
        },
      ]);
    consentSpec.given([]).when({ type: 'RevokeConsent', tenantId, userId, clientId, at }).thenEvents([]);
    const revoked = { type: 'OAuthConsentRevoked' as const, data: { tenantId, userId, clientId, at } };
    consentSpec
      .given([granted])
      .when({ type: 'RevokeConsent', tenantId, userId, clientId, at })
      .thenEvents([revoked]);
    const state = [granted, revoked].reduce(consentDecider.evolve, consentDecider.initialState());
    expect(coversScopes(state, ['openid'])).toBe(false);
  });
});

describe('PKCE and DPoP', () => {
  it('computes S256 as RFC 7636 Appendix B', () => {
    expect(s256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  const replay = () => {
    const seen = new Set<string>();
    return {
      firstUse: async (key: string) => {
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      },
    };
  };

  it('accepts a fresh proof once for its method and URL, with ath when a token comes along', async () => {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const jwk = await exportJWK(publicKey);
    const now = new Date();
    const proof = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
      new SignJWT({ htm: 'POST', htu: 'https://w.example/t/a/oauth/token', ...claims })
        .setProtectedHeader({ alg: 'EdDSA', typ: 'dpop+jwt', jwk, ...header })
        .setJti(crypto.randomUUID())
        .setIssuedAt(Math.floor(now.getTime() / 1000) + Number(claims.skew ?? 0))
        .sign(privateKey);
    const guard = replay();
    const request = { method: 'POST', url: 'https://w.example/t/a/oauth/token?x=1' };
    const good = await proof({});
    expect((await verifyDpopProof(good, request, { now, replay: guard as never })).jkt).toBe(
      await calculateJwkThumbprint(jwk),
    );
    const fails = async (p: Promise<unknown>, why: RegExp) => {
      const error = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(OAuthError);
      expect((error as OAuthError).error).toBe('invalid_dpop_proof');
      expect((error as OAuthError).description).toMatch(why);
    };
    await fails(verifyDpopProof(good, request, { now, replay: guard as never }), /used before/);
    await fails(
      verifyDpopProof(await proof({ htm: 'GET' }), request, { now, replay: guard as never }),
      /method/,
    );
    await fails(
      verifyDpopProof(await proof({ htu: 'https://other.example/' }), request, {
        now,
        replay: guard as never,
      }),
      /URL/,
    );
    await fails(
      verifyDpopProof(await proof({ skew: -3600 }), request, { now, replay: guard as never }),
      /verify/,
    );
    await fails(
      verifyDpopProof(await proof({}, { typ: 'JWT' }), request, { now, replay: guard as never }),
      /typ/,
    );
    await fails(verifyDpopProof('not.a.jwt', request, { now, replay: guard as never }), /JWT/);
    const withToken = { ...request, accessToken: 'token-123' };
    await fails(verifyDpopProof(await proof({}), withToken, { now, replay: guard as never }), /ath/);
    expect(
      await verifyDpopProof(await proof({ ath: accessTokenHash('token-123') }), withToken, {
        now,
        replay: guard as never,
      }),
    ).toBeTruthy();
  });
  it('refuses a replayed proof for as long as the proof itself verifies, even one dated ahead of our clock', async () => {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const jwk = await exportJWK(publicKey);
    const start = new Date('2026-12-01T10:00:00Z');
    const seconds = (n: number) => new Date(start.getTime() + n * 1000);
    // The guard as ReplayGuard promises: a key is kept until the expiry it was given, then forgotten.
    const kept = new Map<string, number>();
    const guard = {
      firstUse: async (key: string, expiresAt: Date, now = current) => {
        const until = kept.get(key);
        if (until !== undefined && until > now.getTime()) return false;
        kept.set(key, expiresAt.getTime());
        return true;
      },
    };
    let current = start;
    // A client whose clock runs a minute ahead (within the tolerance) dates its proof so.
    const proof = await new SignJWT({ htm: 'POST', htu: 'https://w.example/t/a/oauth/token' })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'dpop+jwt', jwk })
      .setJti(crypto.randomUUID())
      .setIssuedAt(Math.floor(seconds(60).getTime() / 1000))
      .sign(privateKey);
    const request = { method: 'POST', url: 'https://w.example/t/a/oauth/token' };
    const verify = (now: Date) => {
      current = now;
      return verifyDpopProof(proof, request, { now, replay: guard as never }).then(
        () => 'accepted',
        (e: OAuthError) => e.description,
      );
    };
    expect(await verify(start)).toBe('accepted');
    for (const later of [1, 60, 119, 121, 150, 180]) {
      expect(await verify(seconds(later))).toMatch(/used before/);
    }
    expect(await verify(seconds(182))).toMatch(/does not verify/);
  });
});
