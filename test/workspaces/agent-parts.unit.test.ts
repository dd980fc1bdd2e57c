import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { aesKey } from '../../src/identity/index.ts';
import { checkAgentConfig, type HostProbes } from '../../src/workspaces/agent/config.ts';
import { ndjsonOutcome } from '../../src/workspaces/agent/ndjson-outcome.ts';
import { NonceLedger } from '../../src/workspaces/agent/request-auth.ts';
import {
  agentAddresses,
  agentUpstream,
  isWorkspaceNginxKey,
  renderRoutes,
  unavailablePage,
  workspaceNginxKey,
} from '../../src/workspaces/index.ts';
import { canonicalRequest, signatureMatches, signRequest } from '../../src/workspaces/signing.ts';

const user = '0b7c2f64-9a55-4a55-8f55-55a1b2c3d4e5';
const workspace = '1b7c2f64-9a55-4a55-8f55-55a1b2c3d4e5';

describe('request signing', () => {
  const key = new Uint8Array(32).fill(7);
  const parts = {
    method: 'post',
    target: '/v1/containers?x=1',
    body: new TextEncoder().encode('{"a":1}'),
    timestamp: 1_800_000_000,
    nonce: 'ab'.repeat(16),
  };

  it('signs method, target, body digest, timestamp and nonce, each on its own line', () => {
    expect(canonicalRequest(parts).split('\n')).toEqual([
      'WARDEN-AGENT-HMAC-SHA256',
      'POST',
      '/v1/containers?x=1',
      expect.stringMatching(/^[0-9a-f]{64}$/),
      '1800000000',
      'ab'.repeat(16),
    ]);
    const signature = signRequest(key, parts);
    expect(signatureMatches(key, parts, signature)).toBe(true);
    for (const changed of [
      { ...parts, method: 'GET' },
      { ...parts, target: '/v1/containers' },
      { ...parts, body: new TextEncoder().encode('{"a":2}') },
      { ...parts, timestamp: parts.timestamp + 1 },
      { ...parts, nonce: 'cd'.repeat(16) },
    ]) {
      expect(signatureMatches(key, changed, signature)).toBe(false);
    }
    expect(signatureMatches(key, parts, 'not-hex')).toBe(false);
  });

  it('remembers a nonce for its window, then forgets it', () => {
    const ledger = new NonceLedger(1_000);
    expect(ledger.remember('n1', 0)).toBe(true);
    expect(ledger.remember('n1', 999)).toBe(false);
    expect(ledger.remember('n1', 1_000)).toBe(true);
  });
});

describe('agent configuration', () => {
  const probes = (overrides: Partial<HostProbes> = {}): HostProbes => ({
    dockerAnswers: async () => true,
    folderProblem: async () => undefined,
    enrolled: async () => false,
    ...overrides,
  });

  it('accepts a good configuration with defaults', async () => {
    const checked = await checkAgentConfig(
      { WARDEN_AGENT_WORK_DIR: '/srv/agent', WARDEN_AGENT_ENROLMENT_TOKEN: 'x'.repeat(20) },
      probes(),
    );
    expect(checked.problems).toEqual([]);
    expect(checked.config).toMatchObject({ WARDEN_AGENT_PORT: 7070, WARDEN_AGENT_HOST: '127.0.0.1' });
  });

  it('names every bad host value at once', async () => {
    const checked = await checkAgentConfig(
      { WARDEN_AGENT_WORK_DIR: '/nope', WARDEN_AGENT_NGINX_CONF: '/etc/none/routes.conf' },
      probes({ dockerAnswers: async () => false, folderProblem: async (dir) => `${dir} is missing` }),
    );
    expect(checked.problems.map((p) => p.split(':')[0])).toEqual([
      'WARDEN_AGENT_DOCKER_SOCKET',
      'WARDEN_AGENT_WORK_DIR',
      'WARDEN_AGENT_NGINX_CONF',
    ]);
  });

  it('needs the enrolment token only until the agent is enrolled', async () => {
    const missing = await checkAgentConfig({ WARDEN_AGENT_WORK_DIR: '/srv/agent' }, probes());
    expect(missing.problems).toEqual(['WARDEN_AGENT_ENROLMENT_TOKEN: required until the agent is enrolled']);
    const enrolled = await checkAgentConfig(
      { WARDEN_AGENT_WORK_DIR: '/srv/agent' },
      probes({ enrolled: async () => true }),
    );
    expect(enrolled.problems).toEqual([]);
  });
});

describe('where an agent may say a workspace is published', () => {
  const named = 'http://agent-7.example.com:7070';
  const port = (host_ip: string, host_port = 32768) => ({ host_ip, host_port });

  it('takes, for an agent registered by name, only an address its name resolves to', () => {
    const resolved = ['192.0.2.10', '192.0.2.11'];
    expect(agentUpstream(named, port('192.0.2.11'), resolved)).toEqual({ upstream: '192.0.2.11:32768' });
    // Every address: the first one the name resolves to (before, refused outright).
    expect(agentUpstream(named, port('0.0.0.0'), resolved)).toEqual({ upstream: '192.0.2.10:32768' });
    // A service elsewhere on the nginx host's network is not the agent's to route to.
    for (const elsewhere of ['10.0.0.5', '172.16.3.4', '192.168.1.1', '192.0.2.99']) {
      const route = agentUpstream(named, port(elsewhere, 5432), resolved);
      expect(route, elsewhere).toEqual({
        refused: `the agent published ${elsewhere}:5432: not an address of agent-7.example.com (192.0.2.10, 192.0.2.11)`,
      });
    }
    expect(agentUpstream(named, port('0.0.0.0'), [])).toMatchObject({
      refused: expect.stringContaining('resolves to no IPv4 address'),
    });
    expect(agentUpstream(named, port('169.254.169.254', 80), ['169.254.169.254'])).toMatchObject({
      refused: expect.stringContaining('not an address a workspace is served from'),
    });
  });

  it('keeps the rules for an agent registered by address or on loopback, which need no lookup', async () => {
    expect(agentUpstream('http://192.0.2.10:7070', port('0.0.0.0'))).toEqual({
      upstream: '192.0.2.10:32768',
    });
    expect(agentUpstream('http://192.0.2.10:7070', port('10.0.0.5'))).toMatchObject({
      refused: expect.stringContaining("not the agent's address"),
    });
    expect(agentUpstream('http://127.0.0.1:7070', port('0.0.0.0'))).toEqual({ upstream: '127.0.0.1:32768' });
    for (const url of [
      'http://127.0.0.1:7070',
      'http://localhost:7070',
      'http://[::1]:7070',
      'http://192.0.2.10',
    ]) {
      expect(await agentAddresses(url), url).toEqual([]);
    }
  });
});

describe('nginx rendering', () => {
  const options = { listen: '127.0.0.1:8080', domain: 'ws.example.com', accessUrl: 'http://127.0.0.1:3000' };

  it('routes by path and by host with WebSocket upgrade headers, deterministically', () => {
    const text = renderRoutes(
      [{ workspaceId: workspace, userId: user, upstream: '127.0.0.1:32768' }],
      options,
    );
    expect(text).toContain(`location /u/${user}/ {`);
    expect(text).toContain('proxy_pass http://127.0.0.1:32768/;');
    // A regular expression: an exact 51-character name overflows nginx's default server-name hash buckets.
    expect(text).toContain(`server_name ~^${user}\\.ws\\.example\\.com$;`);
    expect(text).toContain('proxy_set_header Upgrade $http_upgrade;');
    expect(text).toContain('proxy_set_header Connection $warden_connection_upgrade;');
    expect(
      renderRoutes([{ workspaceId: workspace, userId: user, upstream: '127.0.0.1:32768' }], options),
    ).toBe(text);
  });

  it('lets a request through to a workspace only after Warden checks its session, by path and by host', () => {
    const text = renderRoutes(
      [{ workspaceId: workspace, userId: user, upstream: '127.0.0.1:32768' }],
      options,
    );
    // Both addresses ask before every request; the check is internal (no client reaches it through nginx).
    expect(text.match(new RegExp(`auth_request /\\.warden/check/${workspace};`, 'g'))).toHaveLength(2);
    expect(
      text.match(new RegExp(`location = /\\.warden/check/${workspace} \\{\\n {4}internal;`, 'g')),
    ).toHaveLength(2);
    // Over kept-alive connections to Warden (one upstream for every check).
    expect(text).toContain('upstream warden_access {\n  server 127.0.0.1:3000;\n  keepalive 16;\n}');
    expect(text).toContain(`proxy_pass http://warden_access/workspace-access/check/${workspace};`);
    expect(text).toContain('proxy_set_header Host 127.0.0.1:3000;');
    expect(renderRoutes([], { ...options, accessUrl: 'https://warden.example.com' })).toContain(
      'server warden.example.com:443;',
    );
    // The workspace's own Authorization never reaches Warden; the ticket's way in says which address it came by.
    expect(text).toContain('proxy_set_header Authorization "";');
    expect(text).toContain(`location = /u/${user}/.warden/enter {`);
    expect(text).toContain('proxy_set_header X-Warden-Route path;');
    expect(text).toContain('location = /.warden/enter {');
    expect(text).toContain('proxy_set_header X-Warden-Route host;');
    // By host alone (WARDEN_WORKSPACE_PATH_ROUTES=false): no /u/ location, the host server as before.
    const down = { workspaceId: workspace, userId: user, since: '2026-12-02T10:00:00.000Z' };
    const hostOnly = renderRoutes([{ workspaceId: workspace, userId: user, upstream: '127.0.0.1:32768' }], {
      ...options,
      pathRoutes: false,
    });
    expect(hostOnly).not.toContain('/u/');
    expect(hostOnly).toContain(`server_name ~^${user}\\.ws\\.example\\.com$;`);
    expect(hostOnly.match(/auth_request /g)).toHaveLength(1);
    expect(renderRoutes([], { ...options, pathRoutes: false }, [down])).not.toContain('/u/');
    // An access URL that could carry configuration is refused, not written.
    for (const accessUrl of ['http://127.0.0.1:3000/; } server {', 'http://a b', 'ftp://127.0.0.1', '']) {
      expect(() => renderRoutes([], { ...options, accessUrl })).toThrow(/origin/);
    }
  });

  it('sends Warden the peer nginx saw in place of any forwarding header the browser wrote, and vouches for it at the entry with its key', () => {
    const nginxKey = 'k'.repeat(43);
    const route = { workspaceId: workspace, userId: user, upstream: '127.0.0.1:32768' };
    const text = renderRoutes([route], { ...options, nginxKey });
    // Each location nginx sends to Warden: two entries (path, host) and two checks.
    const toWarden = text
      .split(/\n(?= {2}location )/)
      .filter((block) => block.includes('proxy_pass http://warden_access/'));
    expect(toWarden).toHaveLength(4);
    for (const block of toWarden) {
      // Set, so it replaces what the browser sent; never appended to it.
      expect(block).toContain('proxy_set_header X-Forwarded-For $remote_addr;');
      expect(block).toContain('proxy_set_header X-Forwarded-Proto $scheme;');
      expect(block).not.toContain('$proxy_add_x_forwarded_for');
    }
    // The key goes to the entries only: never to a check, never to a workspace.
    const keyed = text.split('\n').filter((line) => line.includes(nginxKey));
    expect(keyed).toEqual([
      `    proxy_set_header X-Warden-Nginx-Key ${nginxKey};`,
      `    proxy_set_header X-Warden-Nginx-Key ${nginxKey};`,
    ]);
    for (const block of toWarden.filter((b) => b.includes('/workspace-access/enter'))) {
      expect(block).toContain(`proxy_set_header X-Warden-Nginx-Key ${nginxKey};`);
    }
    // Without a key nothing vouches; a key that could carry configuration is refused, not written.
    expect(renderRoutes([route], options)).not.toContain('X-Warden-Nginx-Key');
    for (const bad of ['short', `${'k'.repeat(42)};`, `${'k'.repeat(40)} } s`]) {
      expect(() => renderRoutes([route], { ...options, nginxKey: bad })).toThrow(/nginx key/);
    }
  });

  it('derives the nginx key from the key-encryption key: one per key, the same in every process, matched only whole', async () => {
    const kek = new Uint8Array(32).fill(1);
    const key = await workspaceNginxKey(await aesKey(kek));
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Another process with the same key-encryption key renders and expects the same key.
    expect(await workspaceNginxKey(await aesKey(new Uint8Array(kek)))).toBe(key);
    expect(await workspaceNginxKey(await aesKey(new Uint8Array(32).fill(2)))).not.toBe(key);
    expect(renderRoutes([], { ...options, nginxKey: key })).toContain('upstream warden_access');
    expect(isWorkspaceNginxKey(key, key)).toBe(true);
    for (const sent of [undefined, '', key.slice(0, 42), `${key} `, key.toUpperCase()]) {
      expect(isWorkspaceNginxKey(sent, key)).toBe(false);
    }
  });

  it('leaves out a route whose values could inject configuration', () => {
    const text = renderRoutes(
      [
        { workspaceId: workspace, userId: user, upstream: '127.0.0.1:1; } server { listen 9' },
        { workspaceId: workspace, userId: '../../etc', upstream: '127.0.0.1:2' },
      ],
      options,
    );
    expect(text).not.toContain('listen 9');
    expect(text).not.toContain('etc');
    expect(text).toContain('location / { return 404; }');
  });

  it('answers 503 with a page naming the workspace at both addresses of an unavailable workspace, and never for a routed user', () => {
    const down = { workspaceId: workspace, userId: user, since: '2026-12-02T10:00:00.000Z' };
    const text = renderRoutes([], options, [down]);
    expect(text.match(/return 503 '/g)).toHaveLength(2);
    expect(text).toContain(`location /u/${user}/ {`);
    expect(text).toContain('add_header Retry-After 30 always;');
    const page = unavailablePage(down);
    expect(page).toContain(workspace);
    expect(page).toContain('2026-12-02T10:00:00.000Z');
    // Nothing nginx would read inside its single-quoted string: no quote, variable or escape.
    expect(page).not.toMatch(/['$\\]/);
    expect(
      renderRoutes([{ workspaceId: workspace, userId: user, upstream: '127.0.0.1:32768' }], options, [down]),
    ).not.toContain('503');
    expect(renderRoutes([], options, [{ ...down, since: "x'; } server { listen 9" }])).not.toContain('503');
    expect(renderRoutes([], options, [{ ...down, userId: '../../etc' }])).not.toContain('etc');
  });
});

describe('a long call answered as NDJSON', () => {
  it('sends the lines given in one go as one chunk, and a line given later at once, not held for the next', async () => {
    const app = new Hono();
    let release!: () => void;
    const later = new Promise<void>((resolve) => {
      release = resolve;
    });
    app.get('/call', (c) =>
      ndjsonOutcome(c, {
        run: async (onLine) => {
          // An engine chunk of two lines, parsed at once.
          onLine('Step 1/2\n');
          onLine(' ---> abc\n');
          await later;
          onLine('Step 2/2\n');
          return 'id';
        },
        done: (id) => ({ id }),
        failed: () => 'failed',
      }),
    );
    const answer = await app.request('/call');
    const reader = answer.body!.getReader();
    const decoder = new TextDecoder();
    const next = async () => decoder.decode((await reader.read()).value);
    expect(await next()).toBe('{"stream":"Step 1/2\\n"}\n{"stream":" ---> abc\\n"}\n');
    // Read before the run goes on: nothing of what follows was given yet.
    release();
    const rest: string[] = [];
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      rest.push(decoder.decode(chunk.value));
    }
    expect(rest.join('')).toBe('{"stream":"Step 2/2\\n"}\n{"done":{"id":"id"}}\n');
  });
});
