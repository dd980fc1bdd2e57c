import { NGINX_KEY_SHAPE } from './key.ts';
import { isUpstream } from './upstream.ts';

/** A live route as the routes read model holds it. */
export interface Route {
  workspaceId: string;
  userId: string;
  /** `host:port` the agent published the workspace's first port on. */
  upstream: string;
}

/** A workspace whose agent was lost: its addresses answer a 503 page until it is ready again. */
export interface UnavailableWorkspace {
  workspaceId: string;
  userId: string;
  /** When it was marked unavailable (ISO 8601). */
  since: string;
}

export interface RenderOptions {
  /** nginx's `listen` value, e.g. `127.0.0.1:8080` or `80`. */
  listen: string;
  /** WARDEN_WORKSPACE_DOMAIN: each workspace is also served at `<user>.<domain>`. */
  domain: string;
  /**
   * WARDEN_NGINX_ACCESS_LOG: where nginx writes one JSON line per request to a workspace (the
   * traffic tailer reads it); unset, nothing is logged.
   */
  accessLog?: string;
  /**
   * WARDEN_WORKSPACE_ACCESS_URL: where nginx reaches Warden (`http://host:port`, no path) to let a
   * browser in with a ticket and to check its session before every request to a workspace.
   */
  accessUrl: string;
  /**
   * WARDEN_WORKSPACE_PATH_ROUTES: also serve each workspace at `/u/<user>/` on the default server
   * (default true). Every path route shares one origin; off, workspaces are served by host alone.
   */
  pathRoutes?: boolean;
  /**
   * The key nginx vouches with for the browser address it sends with an entry (`workspaceNginxKey`,
   * 43 base64url characters). Absent, Warden takes that address as for any other request.
   */
  nginxKey?: string;
}

/** An origin nginx can take in `proxy_pass` as it is: scheme, host (or bracketed IPv6) and port only. */
export const ACCESS_URL = /^https?:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$/;

/** The JSON line nginx writes per workspace request; `ws` is the workspace the route belongs to. */
export const TRAFFIC_LOG_FORMAT =
  'log_format warden_traffic escape=json \'{"time":"$time_iso8601","ws":"$warden_workspace",' +
  '"host":"$host","uri":"$request_uri","status":$status,"in":$request_length,"out":$bytes_sent}\';';

/** A path nginx can take unquoted in `access_log`: no space, quote, `;`, `$`, brace or backslash. */
const LOG_PATH = /^\/[A-Za-z0-9._/-]+$/;

const ID = /^[0-9a-f-]{36}$/;
const INSTANT = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$/;

/**
 * The page an unavailable workspace's addresses answer (503, `Retry-After`). Built only from ids and
 * an instant checked above, so it holds no quote, `$` or backslash nginx would read in its string.
 */
export function unavailablePage(workspace: UnavailableWorkspace): string {
  return [
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">',
    '<title>Workspace unavailable</title></head><body>',
    '<h1>This workspace is unavailable</h1>',
    `<p>Workspace <code>${workspace.workspaceId}</code> is unavailable since ${workspace.since}:`,
    ' the host it ran on stopped answering.</p>',
    '<p>Warden is recreating it on another host; this page reloads by itself and shows the workspace',
    ' again once it is ready. Files not on shared storage may be lost with the host.</p>',
    '<p>If it is still unavailable in a few minutes, contact your administrator and give them the',
    ' workspace id above.</p></body></html>',
  ].join('');
}

/**
 * `<user>.<domain>` as a regular expression: an exact name would go into nginx's server-name hash,
 * whose default buckets (64 bytes) are too small for a 36-character id under most real domains, and
 * the operator's `http { }` is not ours to set `server_names_hash_bucket_size` in.
 */
function hostName(userId: string, domain: string): string {
  return `~^${userId}\\.${domain.replaceAll('.', '\\.')}$`;
}

/** The workspace a request belongs to, for the traffic log (only when there is one). */
function mark(workspaceId: string, logged: boolean): string[] {
  return logged ? [`    set $warden_workspace ${workspaceId};`] : [];
}

function unavailable(workspace: UnavailableWorkspace, logged: boolean): string[] {
  return [
    ...mark(workspace.workspaceId, logged),
    '    default_type text/html;',
    '    add_header Retry-After 30 always;',
    '    add_header Cache-Control no-store always;',
    `    return 503 '${unavailablePage(workspace)}';`,
  ];
}

/** The page a request without a session gets (401), in every server: how to get one. */
const DENIED = [
  '  location @warden_denied {',
  '    default_type text/plain;',
  "    return 401 'This workspace needs a session: ask Warden for a link (POST /v1/workspaces/{id}/sessions).';",
  '  }',
];

/** The upstream nginx reaches Warden by, with idle connections kept (one less connect per check). */
const ACCESS_UPSTREAM = 'warden_access';

/** How nginx reaches Warden (WARDEN_WORKSPACE_ACCESS_URL), parsed once per render. */
interface AccessTarget {
  /** The `upstream` block: the access URL's host and port, a few keep-alive connections. */
  upstream: string[];
  /** A location's lines that send its request to `path` on Warden, over that upstream. */
  pass(path: string): string[];
}

function accessTarget(accessUrl: string): AccessTarget {
  const url = new URL(accessUrl);
  const tls = url.protocol === 'https:';
  const port = url.port || (tls ? '443' : '80');
  return {
    upstream: [`upstream ${ACCESS_UPSTREAM} {`, `  server ${url.hostname}:${port};`, '  keepalive 16;', '}'],
    pass: (path) => [
      `    proxy_pass ${tls ? 'https' : 'http'}://${ACCESS_UPSTREAM}${path};`,
      '    proxy_http_version 1.1;',
      '    proxy_set_header Connection "";',
      `    proxy_set_header Host ${url.host};`,
      ...(tls ? ['    proxy_ssl_server_name on;', `    proxy_ssl_name ${url.hostname};`] : []),
      // The workspace's own Authorization is its business, never Warden's.
      '    proxy_set_header Authorization "";',
      // nginx is the hop Warden hears the browser through: what it saw replaces (never extends)
      // whatever forwarding headers the browser wrote itself.
      '    proxy_set_header X-Forwarded-For $remote_addr;',
      '    proxy_set_header X-Forwarded-Proto $scheme;',
    ],
  };
}

/**
 * The session check nginx asks before each request to the workspace (`internal`: a client cannot call
 * it through nginx). It gets the request's headers without its body, with the original method for the
 * Fetch Metadata rules. A subrequest runs the server's `set` again, so the check names its workspace
 * for the traffic log once more.
 */
function checkLocation(workspaceId: string, access: AccessTarget, logged: boolean): string[] {
  return [
    `  location = /.warden/check/${workspaceId} {`,
    '    internal;',
    ...mark(workspaceId, logged),
    ...access.pass(`/workspace-access/check/${workspaceId}`),
    '    proxy_pass_request_body off;',
    '    proxy_set_header Content-Length "";',
    '    proxy_set_header X-Original-Method $request_method;',
    '  }',
  ];
}

/**
 * Where a ticket from the API becomes the session cookie: Warden sets it and redirects in, and
 * records where the browser came from: the peer nginx saw, which its key vouches for.
 */
function enterLocation(
  path: string,
  access: AccessTarget,
  route: 'path' | 'host',
  nginxKey: string | undefined,
): string[] {
  return [
    `  location = ${path} {`,
    ...access.pass('/workspace-access/enter'),
    `    proxy_set_header X-Warden-Route ${route};`,
    '    proxy_set_header X-Warden-Scheme $scheme;',
    ...(nginxKey ? [`    proxy_set_header X-Warden-Nginx-Key ${nginxKey};`] : []),
    '  }',
  ];
}

function proxy(target: string, workspaceId: string, logged: boolean): string[] {
  return [
    ...mark(workspaceId, logged),
    // Every request is let through only with a session of this workspace (see checkLocation).
    `    auth_request /.warden/check/${workspaceId};`,
    '    error_page 401 = @warden_denied;',
    `    proxy_pass http://${target};`,
    '    proxy_http_version 1.1;',
    // Editors (VS Code, Jupyter) talk over WebSockets: pass the upgrade through.
    '    proxy_set_header Upgrade $http_upgrade;',
    '    proxy_set_header Connection $warden_connection_upgrade;',
    '    proxy_set_header Host $host;',
    '    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '    proxy_read_timeout 3600s;',
  ];
}

/**
 * The nginx configuration (the `server` blocks an `http { include … }` takes) for the live routes:
 * `/u/<user>/…` by path on the default server, and `<user>.<domain>` by host; an unavailable
 * workspace's two addresses answer a 503 page saying so. Pure: the same routes
 * give the same text, so an unchanged set is not reloaded. Values that could not have come from the
 * read model (an upstream or id of another shape) are left out rather than written into nginx.
 */
export function renderRoutes(
  routes: readonly Route[],
  options: RenderOptions,
  unavailableWorkspaces: readonly UnavailableWorkspace[] = [],
): string {
  if (!ACCESS_URL.test(options.accessUrl)) {
    throw new Error(
      `the workspace access URL must be an origin like http://127.0.0.1:3000: ${options.accessUrl}`,
    );
  }
  if (options.nginxKey !== undefined && !NGINX_KEY_SHAPE.test(options.nginxKey)) {
    throw new Error('the workspace nginx key must be 43 base64url characters');
  }
  const access = accessTarget(options.accessUrl);
  const safe = [...routes]
    .filter((route) => isUpstream(route.upstream) && ID.test(route.userId) && ID.test(route.workspaceId))
    .sort((a, b) => a.userId.localeCompare(b.userId));
  const routed = new Set(safe.map((route) => route.userId));
  const down = [...unavailableWorkspaces]
    .filter(
      (w) => ID.test(w.userId) && ID.test(w.workspaceId) && INSTANT.test(w.since) && !routed.has(w.userId),
    )
    .sort((a, b) => a.userId.localeCompare(b.userId))
    .filter((w, i, all) => all[i - 1]?.userId !== w.userId);
  // Each request of a workspace is logged with the workspace its location or server belongs to
  // (`$warden_workspace`, set there); requests of no workspace (the 404 catch-all) are not logged.
  const logged = options.accessLog !== undefined && LOG_PATH.test(options.accessLog);
  const traffic = logged
    ? [
        '  set $warden_workspace "";',
        `  access_log ${options.accessLog} warden_traffic if=$warden_workspace;`,
      ]
    : [];
  const lines = [
    '# Generated by Warden from the workspace routes read model: edits are overwritten.',
    "map $http_upgrade $warden_connection_upgrade { default upgrade; '' close; }",
    ...access.upstream,
    ...(logged ? [TRAFFIC_LOG_FORMAT] : []),
    'server {',
    `  listen ${options.listen} default_server;`,
    '  server_name _;',
    ...traffic,
    ...DENIED,
  ];
  const byPath = options.pathRoutes === false ? [] : safe;
  for (const route of byPath) {
    lines.push(
      `  location /u/${route.userId}/ {`,
      ...proxy(`${route.upstream}/`, route.workspaceId, logged).map((l) => l.slice(2)),
      '  }',
      ...enterLocation(`/u/${route.userId}/.warden/enter`, access, 'path', options.nginxKey),
      ...checkLocation(route.workspaceId, access, logged),
    );
  }
  for (const workspace of options.pathRoutes === false ? [] : down) {
    lines.push(
      `  location /u/${workspace.userId}/ {`,
      ...unavailable(workspace, logged).map((l) => l.slice(2)),
      '  }',
    );
  }
  lines.push('  location / { return 404; }', '}');
  for (const route of safe) {
    lines.push(
      'server {',
      `  listen ${options.listen};`,
      `  server_name ${hostName(route.userId, options.domain)};`,
      ...traffic,
      ...DENIED,
      ...enterLocation('/.warden/enter', access, 'host', options.nginxKey),
      ...checkLocation(route.workspaceId, access, logged),
      '  location / {',
      ...proxy(route.upstream, route.workspaceId, logged),
      '  }',
      '}',
    );
  }
  for (const workspace of down) {
    lines.push(
      'server {',
      `  listen ${options.listen};`,
      `  server_name ${hostName(workspace.userId, options.domain)};`,
      ...traffic,
      '  location / {',
      ...unavailable(workspace, logged),
      '  }',
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}
