import Docker from 'dockerode';
import {
  type ContainerEngine,
  ContainerEngineError,
  type ContainerInfo,
  type ContainerSpec,
  type PortBinding,
} from './port.ts';

interface EngineFailure {
  statusCode?: number;
  code?: string;
  message?: string;
}

function failureOf(error: unknown): EngineFailure {
  return typeof error === 'object' && error !== null ? (error as EngineFailure) : {};
}

/** Maps an Engine API failure to the agent's error codes; rethrows what it does not recognise. */
function translate(error: unknown, what: string): never {
  const failure = failureOf(error);
  if (failure.statusCode === 404) throw new ContainerEngineError('not_found', `${what} not found`);
  if (failure.statusCode === 409)
    throw new ContainerEngineError('conflict', `${what}: ${failure.message ?? 'conflict'}`);
  if (failure.code === 'ECONNREFUSED' || failure.code === 'ENOENT' || failure.code === 'EACCES') {
    throw new ContainerEngineError('unavailable', `the Docker Engine does not answer (${failure.code})`);
  }
  throw error;
}

function portsOf(
  raw: Record<string, Array<{ HostIp: string; HostPort: string }> | null> | undefined,
): PortBinding[] {
  const bindings: PortBinding[] = [];
  for (const [key, hosts] of Object.entries(raw ?? {})) {
    const containerPort = Number.parseInt(key, 10);
    for (const host of hosts ?? []) {
      // Docker lists the IPv6 wildcard next to 0.0.0.0; the agent publishes on one address only.
      if (host.HostIp.includes(':')) continue;
      bindings.push({ containerPort, hostIp: host.HostIp, hostPort: Number.parseInt(host.HostPort, 10) });
    }
  }
  return bindings.sort((a, b) => a.containerPort - b.containerPort);
}

function infoOf(inspected: Docker.ContainerInspectInfo): ContainerInfo {
  return {
    id: inspected.Id,
    name: inspected.Name.replace(/^\//, ''),
    image: inspected.Config.Image,
    state: inspected.State.Status,
    running: inspected.State.Running,
    labels: inspected.Config.Labels ?? {},
    ports: portsOf(inspected.NetworkSettings.Ports as never),
    createdAt: inspected.Created,
  };
}

/**
 * Docker's multiplexed log stream (no TTY): frames of an 8-byte header (stream, 0, 0, 0, size as
 * big-endian u32) and the payload. Returned as text, stdout and stderr interleaved as written.
 */
function demultiplex(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

/** The Docker Engine through dockerode, on a Unix socket. */
export function dockerEngine(options: { socketPath: string }): ContainerEngine {
  const docker = new Docker({ socketPath: options.socketPath });
  const inspect = async (ref: string) => {
    try {
      return infoOf(await docker.getContainer(ref).inspect());
    } catch (error) {
      return translate(error, `container "${ref}"`);
    }
  };
  return {
    async ping() {
      try {
        await docker.ping();
        return true;
      } catch {
        return false;
      }
    },
    async counts() {
      try {
        const info = await docker.info();
        return { total: info.Containers, running: info.ContainersRunning, images: info.Images };
      } catch (error) {
        return translate(error, 'docker info');
      }
    },
    async image(ref: string) {
      try {
        const found = await docker.getImage(ref).inspect();
        return { id: found.Id, tags: found.RepoTags ?? [] };
      } catch (error) {
        if (failureOf(error).statusCode === 404) {
          throw new ContainerEngineError('image_not_found', `image "${ref}" not found on this host`);
        }
        return translate(error, `image "${ref}"`);
      }
    },
    async create(spec: ContainerSpec) {
      try {
        await docker.getImage(spec.image).inspect();
      } catch (error) {
        if (failureOf(error).statusCode === 404) {
          throw new ContainerEngineError('image_not_found', `image "${spec.image}" not found on this host`);
        }
        translate(error, `image "${spec.image}"`);
      }
      const exposed: Record<string, object> = {};
      const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
      for (const port of spec.ports) {
        exposed[`${port}/tcp`] = {};
        bindings[`${port}/tcp`] = [{ HostIp: spec.publishHost, HostPort: '' }];
      }
      try {
        const container = await docker.createContainer({
          name: spec.name,
          Image: spec.image,
          ...(spec.cmd ? { Cmd: spec.cmd } : {}),
          Env: Object.entries(spec.env ?? {}).map(([key, value]) => `${key}=${value}`),
          Labels: spec.labels,
          ExposedPorts: exposed,
          HostConfig: {
            PortBindings: bindings,
            ...(spec.mounts?.length ? { Binds: spec.mounts.map((m) => `${m.source}:${m.target}`) } : {}),
            RestartPolicy: { Name: 'unless-stopped' },
            ...(spec.cpus ? { NanoCpus: Math.round(spec.cpus * 1e9) } : {}),
            ...(spec.memoryBytes ? { Memory: spec.memoryBytes } : {}),
          },
        });
        return { id: container.id, name: spec.name, created: true };
      } catch (error) {
        // The name is taken: a retried create (after a crash or a lost answer) finds its container.
        if (failureOf(error).statusCode === 409) {
          const existing = await inspect(spec.name);
          return { id: existing.id, name: existing.name, created: false };
        }
        return translate(error, `container "${spec.name}"`);
      }
    },
    async start(ref) {
      try {
        await docker.getContainer(ref).start();
      } catch (error) {
        // 304: already running, which is what was asked.
        if (failureOf(error).statusCode === 304) return;
        translate(error, `container "${ref}"`);
      }
    },
    async stop(ref, timeoutSeconds = 5) {
      try {
        await docker.getContainer(ref).stop({ t: timeoutSeconds });
      } catch (error) {
        if (failureOf(error).statusCode === 304) return;
        translate(error, `container "${ref}"`);
      }
    },
    async remove(ref, { volumes }) {
      try {
        await docker.getContainer(ref).remove({ force: true, v: volumes });
      } catch (error) {
        translate(error, `container "${ref}"`);
      }
    },
    inspect,
    async list(labels) {
      try {
        const summaries = await docker.listContainers({ all: true, filters: { label: labels } });
        return summaries.map((summary) => ({
          id: summary.Id,
          name: (summary.Names[0] ?? '').replace(/^\//, ''),
          image: summary.Image,
          state: summary.State,
          running: summary.State === 'running',
          labels: summary.Labels ?? {},
          ports: summary.Ports.filter(
            (port) => port.PublicPort !== undefined && !(port.IP ?? '').includes(':'),
          )
            .map((port) => ({
              containerPort: port.PrivatePort,
              hostIp: port.IP ?? '',
              hostPort: port.PublicPort,
            }))
            .sort((a, b) => a.containerPort - b.containerPort),
          createdAt: new Date(summary.Created * 1000).toISOString(),
        }));
      } catch (error) {
        return translate(error, 'container list');
      }
    },
    async logs(ref, tail) {
      try {
        const logs = docker.getContainer(ref).logs({ stdout: true, stderr: true, tail, follow: false });
        // cast: dockerode does not narrow logs() on follow: false, which resolves to a Buffer, not a stream.
        const raw = (await logs) as unknown as Buffer;
        return demultiplex(Buffer.from(raw));
      } catch (error) {
        return translate(error, `container "${ref}"`);
      }
    },
  };
}
