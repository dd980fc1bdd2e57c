import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { OAuthServer } from '../../oauth/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { oauthAuthorizeRoutes } from './authorize.ts';
import { type OAuthClientRouteDeps, oauthClientRoutes } from './clients.ts';
import { oauthConsentRoutes } from './consent.ts';
import { oauthConsentListRoutes } from './consents.ts';
import { oauthDiscoveryRoutes } from './discovery.ts';
import { oauthEndSessionRoutes } from './end-session.ts';
import { oauthTokenStatusRoutes } from './introspection.ts';
import { oauthParRoutes } from './par.ts';
import { oauthSignInRoutes } from './sign-in.ts';
import { oauthTokenRoutes } from './token.ts';
import { oauthUserinfoRoutes } from './userinfo.ts';

export interface OAuthRouteDeps extends Omit<OAuthClientRouteDeps, 'clients'> {
  server: OAuthServer;
  /** The client address (behind a proxy: from the trusted forwarding header), for limits and throttling. */
  clientAddress: (c: Context<AppEnv>) => string | undefined;
}

/**
 * The OAuth 2.0 / OpenID Connect context: the protocol endpoints (discovery, authorization with its
 * pages, PAR, token, introspection, revocation, userinfo, end-session: `/.well-known/…` and
 * `/oauth/…`, each tenant its own issuer) and the API that manages clients and consents (`/v1/oauth/…`).
 */
export function oauthRoutes(deps: OAuthRouteDeps) {
  const { server, clientAddress } = deps;
  const app = new OpenAPIHono<AppEnv>();
  app.route('/', oauthDiscoveryRoutes(server));
  app.route('/', oauthAuthorizeRoutes(server));
  app.route('/', oauthSignInRoutes({ server, clientAddress }));
  app.route('/', oauthConsentRoutes(server));
  app.route('/', oauthParRoutes(server));
  app.route('/', oauthEndSessionRoutes(server));
  app.route('/', oauthTokenRoutes({ server, clientAddress }));
  app.route('/', oauthTokenStatusRoutes(server));
  app.route('/', oauthUserinfoRoutes(server));
  const api = {
    store: deps.store,
    db: deps.db,
    readModels: deps.readModels,
    clock: deps.clock,
    tokens: deps.tokens,
    clients: server.clients,
  };
  app.route('/', oauthClientRoutes(api));
  app.route('/', oauthConsentListRoutes(api));
  return app;
}
