import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { domainDecider, domainStreamId } from '../../src/commands/tenancy/domains.ts';
import { DomainName, type TenantDomainEvent } from '../../src/commands/tenancy/events.ts';
import { tenantAwarePath } from '../../src/http/middleware/tenant.ts';
import { specFor } from '../support/decider-spec.ts';

const spec = specFor(domainDecider);
const at = '2026-11-23T10:00:00.000Z';
const a = '0b7c6d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e';
const b = '1c8d7e4f-2a3b-4c6d-9e0f-1a2b3c4d5e6f';
const domain = 'packages.example.com';
const addedBy = (tenantId: string): TenantDomainEvent => ({
  type: 'TenantDomainAdded',
  data: { tenantId, domain, at },
});
const removedBy = (tenantId: string): TenantDomainEvent => ({
  type: 'TenantDomainRemoved',
  data: { tenantId, domain, at },
});

describe('custom domain decider', () => {
  it('gives a free domain to the tenant that claims it', () => {
    spec
      .given([])
      .when({ type: 'AddTenantDomain', tenantId: a, domain, at })
      .thenEvents([addedBy(a)]);
  });

  it("refuses a domain another tenant holds, and records nothing when it is already the claimant's", () => {
    spec
      .given([addedBy(a)])
      .when({ type: 'AddTenantDomain', tenantId: b, domain, at })
      .thenFails('CONFLICT');
    spec
      .given([addedBy(a)])
      .when({ type: 'AddTenantDomain', tenantId: a, domain, at })
      .thenEvents([]);
  });

  it('lets only the holder release a domain, which another tenant may then claim', () => {
    spec
      .given([addedBy(a)])
      .when({ type: 'RemoveTenantDomain', tenantId: b, domain, at })
      .thenFails('NOT_FOUND');
    spec
      .given([addedBy(a)])
      .when({ type: 'RemoveTenantDomain', tenantId: a, domain, at })
      .thenEvents([removedBy(a)]);
    spec
      .given([addedBy(a), removedBy(a)])
      .when({ type: 'AddTenantDomain', tenantId: b, domain, at })
      .thenEvents([addedBy(b)]);
  });

  it('derives one stream per domain, whatever its case', async () => {
    expect(await domainStreamId('Packages.Example.COM')).toBe(await domainStreamId(domain));
    expect(await domainStreamId('other.example.com')).not.toBe(await domainStreamId(domain));
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
