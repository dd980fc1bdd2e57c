import { describe, expect, it } from 'vitest';
import { renderRoutes } from '../../src/workspaces/index.ts';

const route = {
  workspaceId: '11111111-1111-4111-8111-111111111111',
  userId: '22222222-2222-4222-8222-222222222222',
  upstream: '127.0.0.1:32768',
};
const down = {
  workspaceId: '33333333-3333-4333-8333-333333333333',
  userId: '44444444-4444-4444-8444-444444444444',
  since: '2026-12-02T10:00:00.000Z',
};
const options = { listen: '127.0.0.1:8080', domain: 'ws.example.test', accessUrl: 'http://127.0.0.1:3000' };

describe('the traffic log in the rendered nginx configuration', () => {
  it('declares the JSON format and logs every workspace server and location under its workspace id', () => {
    const text = renderRoutes([route], { ...options, accessLog: '/var/log/warden/ws.log' }, [down]);
    expect(text).toContain('log_format warden_traffic escape=json');
    // The default server, the route's host server and the unavailable workspace's host server.
    expect(
      text.match(/access_log \/var\/log\/warden\/ws\.log warden_traffic if=\$warden_workspace;/g),
    ).toHaveLength(3);
    // Its two addresses, and the session check of each (a subrequest runs the server's `set` again).
    expect(text.match(new RegExp(`set \\$warden_workspace ${route.workspaceId};`, 'g'))).toHaveLength(4);
    expect(text.match(new RegExp(`set \\$warden_workspace ${down.workspaceId};`, 'g'))).toHaveLength(2);
  });

  it('logs nothing without a log file, and refuses a path nginx would read as more than a path', () => {
    expect(renderRoutes([route], options)).not.toContain('warden_workspace');
    for (const accessLog of [
      '/tmp/a b.log',
      '/tmp/x.log; include /etc/passwd',
      'relative.log',
      '/tmp/$host.log',
    ]) {
      expect(renderRoutes([route], { ...options, accessLog }), accessLog).not.toContain('access_log');
    }
  });
});
