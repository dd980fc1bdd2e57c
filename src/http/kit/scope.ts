import type { Context } from 'hono';
import type { CommandContext } from '../../commands/kernel/index.ts';
import type { Principal, ResolvedTenant } from '../../identity/index.ts';
import type { AppEnv } from './env.ts';
import { ifMatchRevision } from './preconditions.ts';
import { RequestError } from './problem.ts';

// What a request acts in and as: its tenant, its caller, and the context a command runs under. Every
// route reads them here, so "no tenant" and "no caller" are answered the same way everywhere.

/** The tenant the request acts in (set by the tenant middleware); none is a 404 unless `missing` says otherwise. */
export function tenantOf(c: Context<AppEnv>, missing?: () => Error): ResolvedTenant {
  const tenant = c.get('tenant');
  if (tenant) return tenant;
  throw missing?.() ?? new RequestError(404, 'tenant-not-found', 'this route acts in a tenant: name one');
}

/** The authenticated caller; none is a 401. */
export function principalOf(c: Context<AppEnv>): Principal {
  const principal = c.get('principal');
  if (!principal) throw new RequestError(401, 'unauthenticated', 'send a valid access token');
  return principal;
}

/**
 * The caller, who must act with a Warden sign-in (their own token), not an OAuth client's token:
 * what the user alone decides (their password, username, consents) or what would outlive the grant
 * (a long-lived npm token) is not for an application the user let act for them. 403 naming `what`.
 */
export function signedInUserOf(c: Context<AppEnv>, what: string): Principal {
  const principal = principalOf(c);
  if (principal.clientId) {
    throw new RequestError(403, 'forbidden', `${what} with a Warden sign-in, not a client token`);
  }
  return principal;
}

/** The caller's user id, when there is a caller (public routes run without one). */
export function actorIdOf(c: Context<AppEnv>): string | undefined {
  return c.get('principal')?.userId;
}

const CORRELATION = /^[A-Za-z0-9._:-]{1,128}$/;

/** Longest User-Agent kept in event metadata: enough to tell clients apart, never a payload. */
export const USER_AGENT_MAX = 256;

/**
 * Where the request came from, for the audit trail: the client address (as `WARDEN_TRUSTED_PROXY_HOPS`
 * decides) and the User-Agent, control characters dropped and cut to `USER_AGENT_MAX` characters.
 */
export function requestOrigin(c: Context<AppEnv>): { clientAddress?: string; userAgent?: string } {
  const clientAddress = c.get('clientAddress');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is dropped
  const userAgent = (c.req.header('user-agent') ?? '').replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return {
    ...(clientAddress ? { clientAddress: clientAddress.slice(0, 100) } : {}),
    ...(userAgent ? { userAgent: userAgent.slice(0, USER_AGENT_MAX) } : {}),
  };
}

/** Who, why and under which preconditions a command runs, taken from the request. */
export function commandContext(
  c: Context<AppEnv>,
  extra: { tenantId?: string; actorId?: string | undefined } = {},
  options: { ifMatch?: boolean } = {},
): CommandContext {
  const requestId = c.get('requestId');
  const correlation = c.req.header('x-correlation-id');
  const expectedRevision = ifMatchRevision(c);
  return {
    metadata: {
      requestId,
      correlationId: correlation && CORRELATION.test(correlation) ? correlation : requestId,
      ...(extra.tenantId ? { tenantId: extra.tenantId } : {}),
      ...(extra.actorId ? { actorId: extra.actorId } : {}),
      ...requestOrigin(c),
    },
    // Creations take no precondition; a malformed If-Match is still refused.
    ...(expectedRevision === undefined || options.ifMatch === false ? {} : { expectedRevision }),
  };
}

/** The command context of a change in `tenantId` by the caller (if any). */
export function actingContext(c: Context<AppEnv>, tenantId: string): CommandContext {
  return commandContext(c, { tenantId, actorId: actorIdOf(c) });
}

/** The command context of a change in `tenantId` by the authenticated caller (none is a 401). */
export function callerContext(
  c: Context<AppEnv>,
  tenantId: string,
  options: { ifMatch?: boolean } = {},
): CommandContext {
  return commandContext(c, { tenantId, actorId: principalOf(c).userId }, options);
}

/**
 * Whether the caller may touch an owner of the request's tenant (grant or take the role, remove,
 * erase): an owner of it, or the platform superadmin. A token acts only in its own tenant unless it
 * is the superadmin's, so the caller's role is their role in this tenant.
 */
export function actsAsOwner(c: Context<AppEnv>): boolean {
  const principal = c.get('principal');
  return principal?.platformSuperadmin === true || principal?.role === 'owner';
}
