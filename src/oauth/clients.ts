import { createLocalJWKSet, errors, type JSONWebKeySet, jwtVerify } from 'jose';
import { type ClientState, clientEventTypes, clientStreamId, findClient } from '../commands/oauth/index.ts';
import type { EventStore } from '../eventstore/port.ts';
import { streamCache } from '../eventstore/stream-cache.ts';
import { sha256 } from '../identity/index.ts';
import { OAuthError } from './errors.ts';
import type { ReplayGuard } from './replay-guard.ts';

export interface ClientRegistry {
  /** The tenant's client, from a cache in front of its event stream kept current by the log. */
  get(tenantId: string, clientId: string): Promise<ClientState | undefined>;
  /** Drops a cached client (this process changed it: its next read must see the change at once). */
  forget(tenantId: string, clientId: string): void;
  readonly cached: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Clients read from their streams through a {@link streamCache}: a client changed in this process is
 * read again at once, one changed in another is within `syncMs` (a secret rotated, a client narrowed
 * or deleted), and an unchanged one is read from its stream once per `ttlMs`. A made-up client id is
 * cached as an empty stream too, so it cannot turn into a stream read per request.
 *
 * Before, entries simply expired after `syncMs` (1 s): with clients spread over many tenants nearly
 * every token request read its client's stream again (`bench:oauth`'s spread over 1,000 tenants).
 */
export function clientRegistry(deps: {
  store: EventStore;
  ttlMs: number;
  syncMs: number;
  max?: number;
  clock?: () => Date;
}): ClientRegistry {
  const streams = streamCache(deps.store, {
    types: clientEventTypes,
    syncMs: deps.syncMs,
    ttlMs: deps.ttlMs,
    max: deps.max ?? 10_000,
    clock: deps.clock ?? (() => new Date()),
  });
  return {
    get cached() {
      return streams.size;
    },
    async get(tenantId, clientId) {
      if (!UUID.test(clientId)) return undefined;
      return (await findClient(streams, tenantId, clientId))?.state;
    },
    forget(_tenantId, clientId) {
      streams.forget(clientStreamId(clientId));
    },
  };
}

/** Constant-time comparison of two strings of equal length (digests). */
function sameDigest(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** True when `secret` is the client's secret, or its previous one still within its overlap. */
export async function secretMatches(client: ClientState, secret: string, now: Date): Promise<boolean> {
  const hash = await sha256(secret);
  if (client.secretHash && sameDigest(hash, client.secretHash)) return true;
  return (
    client.previousSecretHash !== null &&
    client.previousValidUntil !== null &&
    new Date(client.previousValidUntil) > now &&
    sameDigest(hash, client.previousSecretHash)
  );
}

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ASSERTION_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'];

export interface ClientAuthRequest {
  authorization: string | undefined;
  form: URLSearchParams;
  /** Audiences a client assertion may name: the issuer and this endpoint's URL. */
  audiences: string[];
}

/**
 * Client authentication at the token, introspection, revocation and PAR endpoints (RFC 6749 §2.3,
 * RFC 7523 §3): exactly one method, the one the client registered — `client_secret_basic`,
 * `client_secret_post`, `private_key_jwt` (assertion signed by a key the client registered, its `jti`
 * used once) or `none` for public clients. Every failure is the same `invalid_client` (401).
 */
export async function authenticateClient(
  request: ClientAuthRequest,
  deps: { registry: ClientRegistry; tenantId: string; issuer: string; replay: ReplayGuard; now: Date },
): Promise<ClientState> {
  const { form } = request;
  const basic = /^Basic +([A-Za-z0-9+/=]+)$/i.exec(request.authorization?.trim() ?? '');
  const challenge = basic ? `Basic realm="${deps.issuer}"` : undefined;
  const fail = (why: string) => new OAuthError('invalid_client', why, 401, challenge);

  const methods: string[] = [];
  let clientId: string | undefined;
  let secret: string | undefined;
  if (basic?.[1]) {
    methods.push('client_secret_basic');
    let decoded: string;
    try {
      decoded = atob(basic[1]);
    } catch {
      throw fail('the Basic credentials are not base64');
    }
    const colon = decoded.indexOf(':');
    if (colon < 0) throw fail('the Basic credentials need client_id:client_secret');
    try {
      clientId = decodeURIComponent(decoded.slice(0, colon).replaceAll('+', ' '));
      secret = decodeURIComponent(decoded.slice(colon + 1).replaceAll('+', ' '));
    } catch {
      throw fail('the Basic credentials are not form-encoded');
    }
  } else if (request.authorization !== undefined && !/^(DPoP|Bearer) /i.test(request.authorization)) {
    throw fail('unsupported Authorization scheme for client authentication');
  }
  if (form.has('client_secret')) {
    methods.push('client_secret_post');
    secret = form.get('client_secret') ?? '';
  }
  if (form.has('client_assertion') || form.has('client_assertion_type')) methods.push('private_key_jwt');
  if (methods.length > 1) {
    throw new OAuthError(
      'invalid_request',
      `use one client authentication method, not ${methods.join(' and ')}`,
    );
  }
  const formClientId = form.get('client_id') ?? undefined;
  if (clientId !== undefined && formClientId !== undefined && formClientId !== clientId) {
    throw new OAuthError('invalid_request', 'client_id differs from the authenticated client');
  }

  if (methods[0] === 'private_key_jwt') {
    if (form.get('client_assertion_type') !== CLIENT_ASSERTION_TYPE) {
      throw new OAuthError('invalid_request', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
    }
    const assertion = form.get('client_assertion') ?? '';
    let payloadClient: string | undefined;
    try {
      const [, body] = assertion.split('.');
      payloadClient = JSON.parse(atob((body ?? '').replaceAll('-', '+').replaceAll('_', '/'))).sub;
    } catch {
      throw fail('the client assertion is not a JWT');
    }
    clientId = formClientId ?? payloadClient;
    const client = clientId ? await deps.registry.get(deps.tenantId, clientId) : undefined;
    if (client?.tokenEndpointAuthMethod !== 'private_key_jwt') {
      throw fail('unknown client or another authentication method');
    }
    try {
      const { payload } = await jwtVerify(
        assertion,
        createLocalJWKSet({ keys: client.jwks } as JSONWebKeySet),
        {
          issuer: client.clientId,
          subject: client.clientId,
          audience: request.audiences,
          algorithms: ASSERTION_ALGORITHMS,
          currentDate: deps.now,
          maxTokenAge: '5m',
          requiredClaims: ['exp', 'iat', 'jti'],
          clockTolerance: 30,
        },
      );
      const exp = payload.exp ?? 0;
      if (exp * 1000 - deps.now.getTime() > 10 * 60_000) throw fail('the client assertion lives too long');
      const jti = `assertion:${client.clientId}:${String(payload.jti)}`;
      if (!(await deps.replay.firstUse(jti, new Date(exp * 1000 + 60_000)))) {
        throw fail('the client assertion was used before');
      }
    } catch (error) {
      if (error instanceof OAuthError) throw error;
      if (error instanceof errors.JOSEError)
        throw fail(`the client assertion does not verify: ${error.code}`);
      throw error;
    }
    return client;
  }

  clientId ??= formClientId;
  if (!clientId) throw fail('no client authentication (client_id)');
  const client = await deps.registry.get(deps.tenantId, clientId);
  if (!client) throw fail('unknown client');
  const method = methods[0] ?? 'none';
  if (method !== client.tokenEndpointAuthMethod) {
    throw fail(`this client authenticates with ${client.tokenEndpointAuthMethod}`);
  }
  if (method === 'none') return client;
  if (secret === undefined || !(await secretMatches(client, secret, deps.now)))
    throw fail('wrong client secret');
  return client;
}
