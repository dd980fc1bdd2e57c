import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const FIXTURE = fileURLToPath(new URL('./fixtures/search-domain-resolve.ts', import.meta.url));

/**
 * The resolver configuration is the host's (/etc/resolv.conf), which a test cannot change; a child
 * process in its own mount and network namespace can be given one. That takes root and `unshare`
 * (these machines have both); elsewhere the test is skipped, and the rule is held at the boundary by
 * single-label-names.int.test.ts and target-names.unit.test.ts.
 */
const canIsolate =
  process.getuid?.() === 0 && spawnSync('unshare', ['-mn', 'ip', 'link', 'set', 'lo', 'up']).status === 0;

/** Runs the fixture with `resolvConf` as its /etc/resolv.conf; its JSON line. */
async function inNamespace(resolvConf: string): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-resolv-'));
  try {
    const file = join(dir, 'resolv.conf');
    await writeFile(file, resolvConf);
    const script = 'ip link set lo up && mount --bind "$0" /etc/resolv.conf && exec "$1" --import tsx "$2"';
    const child = spawn('unshare', ['-mn', 'sh', '-c', script, file, process.execPath, FIXTURE], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`the fixture exited with ${code}: ${stderr}`);
    return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe.runIf(canIsolate)('target names and the host’s search domains', () => {
  it('are resolved as absolute names: a search domain never turns a tenant’s name into a platform name', async () => {
    // As a cluster's pods have it: names with fewer than 5 dots are tried with the search domain first.
    const found = await inNamespace(
      'nameserver 127.0.0.1\nsearch corp.example\noptions ndots:5 timeout:2 attempts:1\n',
    );
    // The listed name is checked at its own address, not at the one the platform's domain gives it…
    expect(found.listed).toBe('192.0.2.10');
    // …so a tenant's CIDR does not reach the platform's `api.example.com.corp.example` (10.66.0.1).
    expect(found.byCidr).toBe('refused');
    // dns-lookup answers the name asked, as the checker sees it.
    expect(found.lookup).toEqual({ A: ['192.0.2.10'] });
    expect(found.asked).toContain('api.example.com');
    expect((found.asked as string[]).filter((name) => name.endsWith('corp.example'))).toEqual([]);
  }, 60_000);
});
