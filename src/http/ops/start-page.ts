import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from '../kit/index.ts';
import { escapeHtml, prefersHtml } from '../kit/index.ts';
import { type About, WARDEN_VERSION } from './about.ts';

const LINKS = [
  { href: '/docs', title: 'API reference', text: 'every route, rendered from /openapi.json' },
  { href: '/openapi.json', title: 'OpenAPI document', text: 'for clients and code generators' },
  { href: '/health', title: 'Health', text: 'the process is alive' },
  { href: '/ready', title: 'Readiness', text: 'event store, database and projections' },
  { href: '/metrics', title: 'Metrics', text: 'Prometheus text (may need the metrics token)' },
  { href: '/problems', title: 'Problem types', text: 'what each error `type` means' },
] as const;

/** README sections a newcomer needs first (the README ships with Warden; it is not served here). */
const README_SECTIONS = [
  { section: 'Quick start', anchor: '#quick-start' },
  { section: 'Configuration', anchor: '#configuration' },
  { section: 'Identity and tenancy', anchor: '#identity-and-tenancy' },
  { section: 'For operators: metrics and API docs', anchor: '#for-operators-metrics-and-api-docs' },
  { section: 'Deployment', anchor: '#deployment' },
] as const;

const StartInfo = z
  .object({
    name: z.literal('Warden'),
    version: z.string(),
    runs: z.object({ database: z.string(), event_store: z.string(), workers_in_process: z.boolean() }),
    links: z.array(z.object({ href: z.string(), title: z.string() })),
    readme: z.array(z.object({ section: z.string(), anchor: z.string() })),
  })
  .meta({ id: 'StartInfo' });

function page(about: About): string {
  const e = escapeHtml;
  const links = LINKS.map(
    (l) => `      <li><a href="${e(l.href)}">${e(l.title)}</a> — ${e(l.text)}</li>`,
  ).join('\n');
  const readme = README_SECTIONS.map(
    (r) => `      <li><code>README.md${e(r.anchor)}</code> — ${e(r.section)}</li>`,
  ).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Warden ${e(WARDEN_VERSION)}</title>
</head>
<body>
  <main>
    <h1>Warden ${e(WARDEN_VERSION)}</h1>
    <p>A multi-tenant, event-sourced security platform: identity and OAuth, a package firewall for npm,
    an issue tracker, a security-tool runner and workspaces. There is no console yet: the API is the way in.</p>
    <h2>What runs here</h2>
    <ul>
      <li>Database: ${e(about.database)}</li>
      <li>Event store: ${e(about.eventStore)}</li>
      <li>Projections and process managers: ${about.workers ? 'in this process' : 'in separate worker processes'}</li>
    </ul>
    <h2>Start here</h2>
    <ul>
${links}
    </ul>
    <h2>In the README</h2>
    <ul>
${readme}
    </ul>
    <p>Sign in with <code>POST /v1/auth/login</code> (tenant <code>default</code>, the administrator's email
    and the password the first start printed, unless <code>WARDEN_ADMIN_PASSWORD</code> set it).</p>
  </main>
</body>
</html>
`;
}

/** `GET /`: a small start page for a browser, the same facts as JSON for anything else. */
export function startPageRoutes(about: About) {
  const app = new OpenAPIHono<AppEnv>();
  const html = page(about);
  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['Operations'],
      summary: 'What runs here and where to start (HTML for a browser, JSON otherwise)',
      responses: {
        200: {
          description: 'The start page',
          content: {
            'application/json': { schema: StartInfo },
            'text/html': { schema: z.string() },
          },
        },
      },
    }),
    (c) => {
      c.header('Vary', 'Accept');
      if (prefersHtml(c)) return c.html(html, 200);
      return c.json(
        {
          name: 'Warden' as const,
          version: WARDEN_VERSION,
          runs: {
            database: about.database,
            event_store: about.eventStore,
            workers_in_process: about.workers,
          },
          links: LINKS.map(({ href, title }) => ({ href, title })),
          readme: README_SECTIONS.map((r) => ({ ...r })),
        },
        200,
      );
    },
  );
  return app;
}
