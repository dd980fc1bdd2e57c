import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../kit/index.ts';

/** Reads a file of the docs UI bundle (swagger-ui-dist), or undefined when it is not one. */
export type DocsAssetLoader = (file: string) => Promise<Uint8Array | undefined>;

const ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Warden API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="docs"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/init.js"></script>
</body>
</html>
`;

// Same-origin, no inline script: the page works under a strict Content-Security-Policy.
const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#docs', deepLinking: true, persistAuthorization: false });\n`;

/**
 * `/docs`: the API reference rendered from `/openapi.json` by Swagger UI, every asset served from
 * this process (no CDN: Warden runs in networks that reach nothing outside).
 */
export function docsRoutes(load: DocsAssetLoader) {
  const app = new OpenAPIHono<AppEnv>();
  const cache = new Map<string, Uint8Array>();
  app.get('/docs', (c) => c.html(PAGE));
  app.get('/docs/assets/init.js', (c) =>
    c.body(INIT, 200, { 'content-type': 'text/javascript; charset=utf-8' }),
  );
  app.get('/docs/assets/:file', async (c) => {
    const file = c.req.param('file');
    const type = ASSETS[file];
    if (!type) return c.notFound();
    let bytes = cache.get(file);
    if (!bytes) {
      bytes = await load(file);
      if (!bytes) return c.notFound();
      cache.set(file, bytes);
    }
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
      'content-type': type,
      'cache-control': 'public, max-age=86400',
    });
  });
  return app;
}
