import type { Logger } from 'pino';
import type { Permission } from '../../commands/identity/index.ts';
import type { Principal, ResolvedTenant } from '../../identity/index.ts';

/** Per-request values middleware puts on the Hono context. */
export interface AppEnv {
  Variables: {
    requestId: string;
    /** When the request arrived (`performance.now()`), for answers bounded from arrival. */
    arrivedAt: number;
    /** The client's address (WARDEN_TRUSTED_PROXY_HOPS decides whose), set once per request. */
    clientAddress?: string;
    /**
     * The request's logger, carrying its `requestId`, made on first use: a pino child costs a pass of
     * the redaction rules over its bindings and a few objects, and most requests log nothing but
     * their access line (written without one, see `requestContext`).
     */
    logger: () => Logger;
    /** Set by routes that take a JSON body, so idempotency can fingerprint the exact bytes. */
    rawBody?: string;
    /** Set by the tenant resolution middleware on tenant-scoped routes. */
    tenant?: ResolvedTenant;
    /** The parsed body of an OAuth endpoint's form request (absent: not a form). */
    form?: URLSearchParams;
    formError?: string;
    /** Set by the authentication middleware when a valid access token is presented. */
    principal?: Principal;
    /** The permission checks this request passed, each one of its permissions (idempotent replays repeat them). */
    authorizedBy?: readonly (readonly Permission[])[];
  };
}
