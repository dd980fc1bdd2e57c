import type { Permission, TenantRole } from '../commands/identity/index.ts';
import type { LimitOverrides } from '../commands/tenancy/index.ts';

/** Who is calling, established by the authentication middleware from a verified access token. */
export interface Principal {
  userId: string;
  tenantId: string;
  role: TenantRole;
  platformSuperadmin: boolean;
  /** Effective permissions: the role's, narrowed by the token's scopes when it has any. */
  permissions: ReadonlySet<Permission>;
  /** The access token's id (logout refuses it until it expires). */
  tokenId: string;
  tokenExpiresAt: Date;
  /** The refresh-token family (the sign-in session) the access token was issued in; logout revokes it. */
  sessionId?: string;
  /** OAuth: the client the token was issued to (for client credentials, the client is the caller). */
  clientId?: string;
}

/** The tenant a request acts in, resolved by path, header, custom domain or subdomain. */
export interface ResolvedTenant {
  id: string;
  slug: string;
  status: 'active' | 'suspended';
  plan: string;
  /**
   * The superadmin's overrides of the plan's limits, from the tenant read model (absent: none);
   * `effectiveLimits(plan, limits)` gives the limits that hold.
   */
  limits?: LimitOverrides;
  /** How it was found: `path` (/t/<slug>), `header` (X-Tenant), `domain` or `subdomain`. */
  via: 'path' | 'header' | 'domain' | 'subdomain';
}
