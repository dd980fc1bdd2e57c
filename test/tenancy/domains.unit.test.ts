import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DomainError } from '../../src/commands/kernel/errors.ts';
import { eventUpcasters } from '../../src/commands/registry/upcasters.ts';
import { domainDecider, domainStreamId, reservedHostReason } from '../../src/commands/tenancy/domains.ts';
import { DomainName, normalizeHostName, type TenantDomainEvent } from '../../src/commands/tenancy/events.ts';
import { upcasterRegistry } from '../../src/eventstore/upcasting.ts';
import { tenantAwarePath } from '../../src/http/middleware/tenant.ts';
import { specFor } from '../support/decider-spec.ts';

const spec = specFor(domainDecider);
const at = '2026-11-23T10:00:00.000Z';
const later = '2026-11-23T10:05:00.000Z';
const a = '0b7c6d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e';
const b = '1c8d7e4f-2a3b-4c6d-9e0f-1a2b3c4d5e6f';
const domain = 'packages.example.com';
const tokenOf = (tenantId: string) => `token-${tenantId}`;
const reserved = { baseDomain: 'warden.example', platformHosts: ['platform.example.com'] };
const add = (tenantId: string, name = domain) =>
  ({
    type: 'AddTenantDomain',
    tenantId,
    domain: name,
    verificationToken: tokenOf(tenantId),
    reserved,
    at,
  }) as const;
const verify = (tenantId: string, found: string[], lookupError?: string) =>
  ({
    type: 'VerifyTenantDomain',
    tenantId,
    domain,
    found,
    ...(lookupError ? { lookupError } : {}),
    at: later,
  }) as const;
const addedBy = (tenantId: string): TenantDomainEvent => ({
  type: 'TenantDomainAdded',
  data: { tenantId, domain, verificationToken: tokenOf(tenantId), at },
});
const verifiedBy = (tenantId: string): TenantDomainEvent => ({
  type: 'TenantDomainVerified',
  data: { tenantId, domain, at: later },
});
const removedBy = (tenantId: string): TenantDomainEvent => ({
  type: 'TenantDomainRemoved',
  data: { tenantId, domain, at },
});

describe('custom domain decider', () => {
  it('gives a free domain to the tenant that claims it, pending with the token it was given', () => {
    spec
      .given([])
      .when(add(a))
      .thenEvents([addedBy(a)]);
    expect([addedBy(a)].reduce(domainDecider.evolve, domainDecider.initialState())).toMatchObject({
      tenantId: a,
      verificationToken: tokenOf(a),
      verifiedAt: null,
    });
  });

  it("refuses the base domain, every name under it and the platform's hosts (422 on the domain field)", () => {
    for (const name of [
      'warden.example',
      'acme.warden.example',
      'a.b.warden.example',
      'platform.example.com',
    ]) {
      spec.given([]).when(add(a, name)).thenFails('INVALID');
    }
    let error: unknown;
    try {
      domainDecider.decide(add(a, 'acme.warden.example'), domainDecider.initialState());
    } catch (e) {
      error = e;
    }
    expect((error as DomainError).detail.errors?.[0]?.path).toBe('domain');
    // Only under it: a name that merely ends the same way is someone's own domain.
    expect(reservedHostReason('notwarden.example', reserved)).toBeNull();
    expect(reservedHostReason('sub.platform.example.com', reserved)).toBeNull();
  });

  it('verifies the claim when the TXT record holds its token, once', () => {
    spec
      .given([addedBy(a)])
      .when(verify(a, ['unrelated', tokenOf(a)]))
      .thenEvents([verifiedBy(a)]);
    spec
      .given([addedBy(a), verifiedBy(a)])
      .when(verify(a, []))
      .thenEvents([]);
  });

  it('refuses verification without the token, saying what was expected and what was found', () => {
    const failure = (found: string[], lookupError?: string) => {
      try {
        domainDecider.decide(
          verify(a, found, lookupError),
          [addedBy(a)].reduce(domainDecider.evolve, domainDecider.initialState()),
        );
      } catch (e) {
        return e as DomainError;
      }
      throw new Error('verification passed');
    };
    spec
      .given([addedBy(a)])
      .when(verify(a, [tokenOf(b)]))
      .thenFails('RULE_VIOLATED', 'domain-ownership-not-proven');
    expect(failure([tokenOf(b)]).message).toBe(
      `expected a TXT record _warden-challenge.${domain} with the value "${tokenOf(a)}"; found "${tokenOf(b)}"`,
    );
    expect(failure([], 'the DNS lookup failed: ETIMEOUT').message).toContain(
      'found no TXT record (the DNS lookup failed: ETIMEOUT)',
    );
  });

  it("answers 404 when verifying a domain the tenant does not hold (someone else's looks the same)", () => {
    spec
      .given([])
      .when(verify(a, [tokenOf(a)]))
      .thenFails('NOT_FOUND');
    spec
      .given([addedBy(b)])
      .when(verify(a, [tokenOf(b)]))
      .thenFails('NOT_FOUND');
  });

  it("refuses a domain another tenant has verified, and records nothing when it is already the claimant's", () => {
    spec
      .given([addedBy(a), verifiedBy(a)])
      .when(add(b))
      .thenFails('CONFLICT');
    spec
      .given([addedBy(a)])
      .when(add(a))
      .thenEvents([]);
    spec
      .given([addedBy(a), verifiedBy(a)])
      .when(add(a))
      .thenEvents([]);
  });

  it('lets a pending claim be overtaken by another tenant, whose claim gets its own token', () => {
    spec
      .given([addedBy(a)])
      .when(add(b))
      .thenEvents([addedBy(b)]);
    // a's TXT record no longer proves anything: b must publish its own token.
    spec
      .given([addedBy(a), addedBy(b)])
      .when(verify(b, [tokenOf(a)]))
      .thenFails('RULE_VIOLATED');
    spec
      .given([addedBy(a), addedBy(b)])
      .when(verify(a, [tokenOf(a)]))
      .thenFails('NOT_FOUND');
  });

  it('starts a new claim pending again after a release, even by the same tenant', () => {
    const state = [addedBy(a), verifiedBy(a), removedBy(a), addedBy(a)].reduce(
      domainDecider.evolve,
      domainDecider.initialState(),
    );
    expect(state.verifiedAt).toBeNull();
  });

  it('lets only the holder release a domain, which another tenant may then claim', () => {
    spec
      .given([addedBy(a)])
      .when({ type: 'RemoveTenantDomain', tenantId: b, domain, at })
      .thenFails('NOT_FOUND');
    spec
      .given([addedBy(a), verifiedBy(a)])
      .when({ type: 'RemoveTenantDomain', tenantId: a, domain, at })
      .thenEvents([removedBy(a)]);
    spec
      .given([addedBy(a), verifiedBy(a), removedBy(a)])
      .when(add(b))
      .thenEvents([addedBy(b)]);
  });

  it('derives one stream per domain, whatever its case', async () => {
    expect(await domainStreamId('Packages.Example.COM')).toBe(await domainStreamId(domain));
    expect(await domainStreamId('other.example.com')).not.toBe(await domainStreamId(domain));
  });
});

describe('TenantDomainAdded version 1 (before verification)', () => {
  it('is upcast to a pending claim whose token is the event id', () => {
    const registry = upcasterRegistry(eventUpcasters);
    expect(registry.currentVersion('TenantDomainAdded')).toBe(2);
    const v1 = {
      id: '5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f',
      type: 'TenantDomainAdded',
      data: { tenantId: a, domain, at },
      metadata: {},
    };
    const upcast = registry.upcast(v1 as never) as unknown as { data: unknown };
    expect(upcast.data).toEqual({ tenantId: a, domain, at, verificationToken: v1.id });
    const state = domainDecider.evolve(domainDecider.initialState(), upcast as TenantDomainEvent);
    expect(state).toMatchObject({ tenantId: a, verificationToken: v1.id, verifiedAt: null });
  });
});

describe('domain names', () => {
  it('accepts generated hostnames, lowercased', () => {
    fc.assert(
      fc.property(fc.domain(), (name) => {
        const parsed = DomainName.safeParse(name.toUpperCase());
        return !/\.[0-9]+$/.test(name) ? parsed.success && parsed.data === name.toLowerCase() : true;
      }),
    );
  });

  it('refuses single labels, empty labels, edge hyphens, numeric last labels and over-long labels', () => {
    for (const bad of [
      'localhost',
      'a..b.com',
      '-a.com',
      'a-.com',
      '1.2.3.4',
      `${'a'.repeat(64)}.com`,
      'a_b.com',
    ]) {
      expect(DomainName.safeParse(bad).success, bad).toBe(false);
    }
  });

  it('compares names as DNS does: case, a trailing dot and Unicode spellings are one name', () => {
    expect(DomainName.parse(' ACME.Warden.Example. ')).toBe('acme.warden.example');
    expect(DomainName.parse('Bücher.example')).toBe('xn--bcher-kva.example');
    expect(normalizeHostName('ａｃｍｅ.warden.example')).toBe('acme.warden.example');
    // URL syntax is refused, never read as the host it names.
    for (const bad of ['evil.example@acme.warden.example', 'acme.warden.example/x', 'a.example:80']) {
      expect(DomainName.safeParse(bad).success, bad).toBe(false);
    }
  });
});

describe('tenant-aware routing path', () => {
  it('routes /t/<slug>/… as /… and leaves other paths alone', () => {
    const path = (p: string) => tenantAwarePath(new Request(`http://localhost${p}`));
    expect(path('/t/acme/v1/users?x=1')).toBe('/v1/users');
    expect(path('/t/acme')).toBe('/');
    expect(path('/v1/t/acme/x')).toBe('/v1/t/acme/x');
    expect(path('/tenants')).toBe('/tenants');
  });
});
