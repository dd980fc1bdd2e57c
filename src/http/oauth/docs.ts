import type { OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import type { AppEnv } from '../kit/index.ts';

/** The form fields of client authentication, documented on every endpoint that authenticates clients. */
export const CLIENT_AUTH_FIELDS = ['client_id', 'client_secret', 'client_assertion_type', 'client_assertion'];

const OAuthErrorBody = z
  .object({ error: z.string(), error_description: z.string().optional() })
  .meta({ id: 'OAuthError' });

/**
 * Describes an OAuth endpoint in /openapi.json. These endpoints speak their protocol, not the API's
 * conventions (form bodies in, RFC 6749 errors out), so they are documented here and served by plain
 * handlers that validate the form themselves.
 */
export function oauthDoc(
  app: OpenAPIHono<AppEnv>,
  route: {
    method: 'get' | 'post';
    path: string;
    summary: string;
    fields: readonly string[];
    responses: Record<number, string>;
    bearer?: boolean;
    html?: boolean;
  },
) {
  const form = z.object(Object.fromEntries(route.fields.map((f) => [f, z.string().optional()])));
  app.openAPIRegistry.registerPath({
    method: route.method,
    path: route.path,
    tags: ['OAuth 2.0 / OpenID Connect'],
    summary: route.summary,
    ...(route.bearer ? { security: [{ bearerAuth: [] }] } : {}),
    ...(route.fields.length > 0 && route.method === 'post'
      ? { request: { body: { content: { 'application/x-www-form-urlencoded': { schema: form } } } } }
      : route.fields.length > 0
        ? { request: { query: form } }
        : {}),
    responses: Object.fromEntries(
      Object.entries(route.responses).map(([status, description]) => [
        status,
        route.html && Number(status) < 300
          ? { description, content: { 'text/html': { schema: z.string() } } }
          : Number(status) >= 300 && Number(status) < 400
            ? { description }
            : Number(status) >= 400
              ? { description, content: { 'application/json': { schema: OAuthErrorBody } } }
              : { description, content: { 'application/json': { schema: z.looseObject({}) } } },
      ]),
    ),
  });
}
