import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { freePort, until } from './cli.ts';

/**
 * A private Docker daemon for one test file: its own data root, exec root, socket, pidfile and bridge,
 * so two of them run side by side (each test file may start two to play two hosts). iptables stays
 * off: ports are published to 127.0.0.1 through docker-proxy, and the daemons never fight over the
 * host's NAT chains.
 */
export interface Dockerd {
  /** The Unix socket path (for dockerode `{ socketPath }`). */
  socket: string;
  /** As a `DOCKER_HOST` value. */
  host: string;
  /** The folder holding everything the daemon wrote; removed by `stop`. */
  dir: string;
  stop(): Promise<void>;
}

/** The base image every workspace test runs: busybox serving `/www` with `busybox httpd`. */
export const baseImage = 'warden-test/busybox:1';

const dockerdBinary = '/usr/sbin/dockerd';
const nginxBinary = '/usr/sbin/nginx';

function requireBinary(path: string, packageName: string) {
  // Tests that need Docker or nginx fail, never skip, without them: `.ci/run` installs them.
  if (!existsSync(path)) throw new Error(`${path} is missing: apt-get install ${packageName}`);
}

function busyboxBinary(): string {
  const found = ['/bin/busybox', '/usr/bin/busybox'].find((path) => existsSync(path));
  if (!found) throw new Error('busybox is missing: apt-get install busybox-static');
  return found;
}

function randomSuffix(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, '0')).join(
    '',
  );
}

/** A GET against the daemon's socket; true when it answers `/_ping` with OK. */
function pings(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** A call to the Engine API on the socket, answering the status and the body as text. */
function engineCall(socket: string, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, timeout: 30_000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('engine call timed out')));
    req.end();
  });
}

async function removeAllContainers(socket: string) {
  const listed = await engineCall(socket, 'GET', '/containers/json?all=true');
  const ids = (JSON.parse(listed.body) as Array<{ Id: string }>).map((c) => c.Id);
  await Promise.all(ids.map((id) => engineCall(socket, 'DELETE', `/containers/${id}?force=true&v=true`)));
}

/** Lazily unmounts every mount point under `dir`, deepest first (a daemon killed mid-stop leaves some). */
function unmountUnder(dir: string) {
  const points = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of points) {
    try {
      execFileSync('umount', ['-l', point], { stdio: 'ignore' });
    } catch {
      // already unmounted
    }
  }
}

function exited(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Starts a private dockerd (about three seconds) under a short folder in /tmp (Unix socket paths are
 * limited to about 100 bytes). Needs root, as dockerd does.
 */
export async function startDockerd(): Promise<Dockerd> {
  requireBinary(dockerdBinary, 'docker.io');
  const suffix = randomSuffix();
  const dir = mkdtempSync(`/tmp/wd-${suffix.slice(0, 4)}`);
  const bridge = `wd${suffix}`;
  // A /24 of its own in 10.200-254.x.0, so two daemons (and two test files) do not share a subnet.
  const bytes = crypto.getRandomValues(new Uint8Array(2));
  const subnet = `10.${200 + ((bytes[0] ?? 0) % 55)}.${bytes[1] ?? 0}`;
  execFileSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
  execFileSync('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', bridge]);
  execFileSync('ip', ['link', 'set', bridge, 'up']);
  const socket = join(dir, 'd.sock');
  const log = join(dir, 'dockerd.log');
  writeFileSync(log, '');
  const child = spawn(
    dockerdBinary,
    [
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'x'),
      '-H',
      `unix://${socket}`,
      '--pidfile',
      join(dir, 'dockerd.pid'),
      '--bridge',
      bridge,
      '--iptables=false',
      '--ip6tables=false',
      '--ip-masq=false',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const lines: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => {
    lines.push(chunk.toString());
    if (lines.length > 200) lines.shift();
  });
  const stop = async () => {
    // Containers first (busybox as PID 1 ignores SIGTERM, so dockerd would wait 10 s for each), then
    // the daemon; whatever it leaves mounted is unmounted before the folder goes.
    await removeAllContainers(socket).catch(() => undefined);
    child.kill('SIGTERM');
    await exited(child, 30_000);
    try {
      execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until(() => pings(socket), child, 30_000);
  } catch (error) {
    await stop();
    throw new Error(`dockerd did not start: ${lines.join('').slice(-2_000)}`, { cause: error });
  }
  return { socket, host: `unix://${socket}`, dir, stop };
}

/**
 * Builds the base image in `daemon` with `docker import` of a root filesystem made of busybox and its
 * links (no registry, no internet): `/bin/busybox httpd -f -p 8080 -h /www` serves `/www/index.html`,
 * which says "workspace"; that is also the image's command (`CMD`), on port 8080 (`EXPOSE`).
 */
export async function importBaseImage(daemon: Dockerd, tag = baseImage): Promise<string> {
  const busybox = busyboxBinary();
  const root = join(daemon.dir, 'rootfs');
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'www'), { recursive: true });
  mkdirSync(join(root, 'tmp'), { recursive: true });
  writeFileSync(join(root, 'bin', 'busybox'), readFileSync(busybox), { mode: 0o755 });
  for (const applet of ['sh', 'httpd', 'ls', 'cat', 'echo', 'sleep', 'mkdir', 'env']) {
    symlinkSync('busybox', join(root, 'bin', applet));
  }
  writeFileSync(join(root, 'www', 'index.html'), 'workspace\n');
  const archive = join(daemon.dir, 'rootfs.tar');
  execFileSync('tar', ['-C', root, '-cf', archive, '.']);
  const [repo, version] = tag.split(':');
  // `docker import --change`: the image's own command serves /www on 8080, as a workspace image would.
  const changes = ['CMD ["/bin/busybox","httpd","-f","-p","8080","-h","/www"]', 'EXPOSE 8080']
    .map((change) => `&changes=${encodeURIComponent(change)}`)
    .join('');
  // The Engine API's image create "fromSrc=-": the tar is the request body.
  await new Promise<void>((resolve, reject) => {
    const req = request(
      {
        socketPath: daemon.socket,
        method: 'POST',
        path: `/images/create?fromSrc=-&repo=${encodeURIComponent(repo ?? tag)}&tag=${encodeURIComponent(version ?? 'latest')}${changes}`,
        headers: { 'Content-Type': 'application/x-tar' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          if (res.statusCode === 200 && !body.includes('"error"')) resolve();
          else reject(new Error(`docker import failed (${res.statusCode}): ${body}`));
        });
      },
    );
    req.on('error', reject);
    req.end(readFileSync(archive));
  });
  rmSync(root, { recursive: true, force: true });
  rmSync(archive, { force: true });
  return tag;
}

/** A private nginx on 127.0.0.1 whose `http` block includes one routes file the test (or Warden) writes. */
export interface Nginx {
  port: number;
  url: string;
  /** The prefix folder (`nginx -p`). */
  dir: string;
  /** The main configuration file (`nginx -c`). */
  conf: string;
  /** The file included inside `http { … }` (its `server` blocks): the live routes. */
  routes: string;
  /** `nginx -s reload` for this instance. */
  reload(): void;
  /**
   * Resolves once the master has one worker left (its `worker_processes`): after a reload, until the
   * old worker takes its QUIT, it still accepts new connections and answers them from the old routes.
   * Call it once an answer from the new routes was seen: `-s reload` returns before the master has
   * started the new worker, and until then the one worker there is the old one.
   */
  settled(timeoutMs?: number): Promise<void>;
  /** The command line that runs this instance's `nginx` with extra arguments (for `-t`, `-s reload`). */
  command: string[];
  stop(): Promise<void>;
}

function nginxConf(dir: string, routes: string): string {
  return [
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'worker_processes 1;',
    'events { worker_connections 256; }',
    'http {',
    `  access_log ${join(dir, 'access.log')};`,
    `  client_body_temp_path ${join(dir, 'tmp', 'body')};`,
    `  proxy_temp_path ${join(dir, 'tmp', 'proxy')};`,
    `  fastcgi_temp_path ${join(dir, 'tmp', 'fastcgi')};`,
    `  uwsgi_temp_path ${join(dir, 'tmp', 'uwsgi')};`,
    `  scgi_temp_path ${join(dir, 'tmp', 'scgi')};`,
    `  include ${routes};`,
    '}',
    '',
  ].join('\n');
}

/**
 * Starts nginx in the foreground with a prefix folder of its own, listening on an ephemeral loopback
 * port; `routes` is the initial content of the included file (default: a server that answers 404).
 */
export async function startNginx(initialRoutes?: string): Promise<Nginx> {
  requireBinary(nginxBinary, 'nginx');
  const dir = mkdtempSync(`/tmp/wn-${randomSuffix().slice(0, 4)}`);
  mkdirSync(join(dir, 'tmp'));
  const port = await freePort();
  const routes = join(dir, 'routes.conf');
  writeFileSync(routes, initialRoutes ?? `server { listen 127.0.0.1:${port}; location / { return 404; } }\n`);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConf(dir, routes));
  const command = [nginxBinary, '-p', dir, '-c', conf];
  const child = spawn(nginxBinary, ['-p', dir, '-c', conf, '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    child.kill('SIGQUIT');
    await exited(child, 10_000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until(
      () =>
        fetch(url).then(
          async (r) => {
            await r.body?.cancel();
            return true;
          },
          () => false,
        ),
      child,
      10_000,
    );
  } catch (error) {
    await stop();
    throw new Error(`nginx did not start: ${stderr}`, { cause: error });
  }
  return {
    port,
    url,
    dir,
    conf,
    routes,
    command,
    reload: () => void execFileSync(nginxBinary, ['-p', dir, '-c', conf, '-s', 'reload'], { stdio: 'pipe' }),
    settled: async (timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (childrenOf(child.pid ?? 0).length !== 1) {
        if (Date.now() > deadline) throw new Error(`nginx kept ${childrenOf(child.pid ?? 0).length} workers`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop,
  };
}

/** The pids whose parent is `pid` (from /proc: each process's stat names its parent). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone since the listing
    }
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) children.push(Number(entry));
  }
  return children;
}
