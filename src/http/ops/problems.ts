import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv, ProblemCode } from '../kit/index.ts';
import {
  escapeHtml,
  prefersHtml,
  problemCatalogue,
  problemCodes,
  problemContent,
  problemResponse,
  problemType,
} from '../kit/index.ts';

const ProblemPage = z
  .object({
    type: z.string(),
    code: z.string(),
    title: z.string(),
    statuses: z.array(z.number().int()),
    description: z.string(),
  })
  .meta({ id: 'ProblemTypeDescription' });

const describe = (code: ProblemCode) => {
  const entry = problemCatalogue[code];
  return {
    type: problemType(code),
    code,
    title: entry.title,
    statuses: [...entry.statuses],
    description: entry.description,
  };
};

/** `backticks` in a description become <code>; everything else is escaped text. */
const prose = (text: string) =>
  escapeHtml(text).replace(/`([^`]+)`/g, (_, inner: string) => `<code>${inner}</code>`);

function html(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(title)} — Warden</title>
</head>
<body>
  <main>
${body}
    <p><a href="/problems">All problem types</a> · <a href="/docs">API reference</a> · <a href="/">Warden</a></p>
  </main>
</body>
</html>
`;
}

function problemHtml(code: ProblemCode): string {
  const p = describe(code);
  return html(
    p.title,
    `    <h1>${escapeHtml(p.title)}</h1>
    <p><code>type: "${escapeHtml(p.type)}"</code> · HTTP ${p.statuses.join(', ')}</p>
    <p>${prose(p.description)}</p>
    <p>Every problem is <code>application/problem+json</code> (RFC 9457): <code>type</code>, <code>title</code>,
    <code>status</code>, <code>detail</code>, <code>instance</code>, and <code>errors</code> (each with a field
    <code>path</code>) when fields are at fault.</p>`,
  );
}

function indexHtml(): string {
  const items = problemCodes
    .map((code) => {
      const p = problemCatalogue[code];
      return `      <li><a href="${escapeHtml(problemType(code))}">${escapeHtml(code)}</a> (${p.statuses.join(', ')}) — ${escapeHtml(p.title)}</li>`;
    })
    .join('\n');
  return html('Problem types', `    <h1>Problem types</h1>\n    <ul>\n${items}\n    </ul>`);
}

const isCode = (code: string): code is ProblemCode => Object.hasOwn(problemCatalogue, code);

/**
 * `/problems` and `/problems/<code>`: what each problem `type` Warden answers means, as an HTML page
 * for a person who follows the link and as JSON for a program (`Accept` decides).
 */
export function problemRoutes() {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/problems',
      tags: ['Operations'],
      summary: 'Every problem type Warden answers (HTML for a browser, JSON otherwise)',
      responses: {
        200: {
          description: 'The problem types',
          content: {
            'application/json': { schema: z.object({ items: z.array(ProblemPage) }) },
            'text/html': { schema: z.string() },
          },
        },
      },
    }),
    (c) => {
      c.header('Vary', 'Accept');
      if (prefersHtml(c)) return c.html(indexHtml(), 200);
      return c.json({ items: problemCodes.map(describe) }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/problems/{code}',
      tags: ['Operations'],
      summary: 'What one problem type means (the `type` of a problem+json answer)',
      request: { params: z.object({ code: z.string().max(100) }) },
      responses: {
        200: {
          description: 'The problem type',
          content: {
            'application/json': { schema: ProblemPage },
            'text/html': { schema: z.string() },
          },
        },
        404: problemContent('No such problem type'),
      },
    }),
    (c) => {
      const { code } = c.req.valid('param');
      if (!isCode(code)) return problemResponse(c, 404, 'not-found', `no problem type "${code}"`) as never;
      c.header('Vary', 'Accept');
      if (prefersHtml(c)) return c.html(problemHtml(code), 200);
      return c.json(describe(code), 200);
    },
  );
  return app;
}
