import Docker from 'dockerode';
import {
  type ContainerEngine,
  ContainerEngineError,
  type ContainerInfo,
  type ContainerSpec,
  type PortBinding,
  type RegistryAuth,
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

/** One line of the Engine's JSON progress stream (build, push, pull). */
interface ProgressLine {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string; Digest?: string };
}

/**
 * Follows one of the Engine's JSON progress streams to its end: every line to `onLine`, the `aux`
 * objects to `onAux`; a line carrying an error fails it (`failed`, with the Engine's message).
 */
function follow(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  onLine: (line: string) => void,
  onAux: (aux: NonNullable<ProgressLine['aux']>) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: string | undefined;
    docker.modem.followProgress(
      stream,
      (error: Error | null) => {
        if (failure !== undefined) reject(new ContainerEngineError('failed', failure));
        else if (error) reject(new ContainerEngineError('failed', error.message));
        else resolve();
      },
      (line: ProgressLine) => {
        if (line.error !== undefined || line.errorDetail?.message !== undefined) {
          failure ??= line.errorDetail?.message ?? line.error ?? 'the engine reported an error';
          onLine(`${failure}\n`);
          return;
        }
        if (line.aux) onAux(line.aux);
        if (line.stream !== undefined) onLine(line.stream);
        else if (line.status !== undefined) {
          // Push and pull progress bars repeat per chunk: only the status lines are worth keeping.
          if (line.progress === undefined) onLine(`${line.id ? `${line.id}: ` : ''}${line.status}\n`);
        }
      },
    );
  });
}

/** A bare name (`busybox`) would be looked up on Docker Hub: only a ref naming a registry host is pulled. */
export function namesRegistryHost(ref: string): boolean {
  const slash = ref.indexOf('/');
  if (slash < 0) return false;
  const first = ref.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost';
}

/** `host:5000/a/b:1` → [`host:5000/a/b`, `1`]: the tag is after the last colon past the last slash. */
function splitRef(ref: string): [string, string] {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
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
  const pull = async (ref: string, auth: RegistryAuth | undefined) => {
    let stream: NodeJS.ReadableStream;
    try {
      stream = await docker.pull(ref, auth ? { authconfig: auth } : {});
    } catch (error) {
      if (failureOf(error).statusCode === 404) {
        throw new ContainerEngineError('image_not_found', `image "${ref}" not found in its registry`);
      }
      const failure = failureOf(error);
      if (failure.statusCode !== undefined && failure.statusCode < 500) {
        throw new ContainerEngineError('failed', `pulling "${ref}": ${failure.message ?? 'refused'}`);
      }
      return translate(error, `image "${ref}"`);
    }
    await follow(
      docker,
      stream,
      () => {},
      () => {},
    );
  };
  return {
    pull,
    async build(context, options, onLine, signal) {
      let stream: NodeJS.ReadableStream;
      try {
        stream = await docker.buildImage(context, {
          t: options.tag,
          dockerfile: options.dockerfile,
          ...(options.buildArgs ? { buildargs: options.buildArgs } : {}),
          ...(options.target ? { target: options.target } : {}),
          ...(options.noCache ? { nocache: true } : {}),
          rm: true,
          forcerm: true,
          ...(signal ? { abortSignal: signal } : {}),
        });
      } catch (error) {
        const failure = failureOf(error);
        if (failure.statusCode !== undefined && failure.statusCode < 500) {
          throw new ContainerEngineError('invalid', `the build was refused: ${failure.message ?? ''}`);
        }
        if (failure.statusCode === 500) {
          // The Engine answers 500 to a context it cannot read (not a tar, no Dockerfile in it).
          throw new ContainerEngineError('invalid', `the build was refused: ${failure.message ?? ''}`);
        }
        return translate(error, 'image build');
      }
      // The daemon stops a build whose client went: dropping the response stream is that.
      const drop = () => (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      signal?.addEventListener('abort', drop, { once: true });
      let id: string | undefined;
      try {
        await follow(docker, stream, onLine, (aux) => {
          if (aux.ID) id = aux.ID;
        });
      } finally {
        signal?.removeEventListener('abort', drop);
      }
      if (signal?.aborted) throw new ContainerEngineError('failed', 'the build was aborted');
      if (id === undefined) id = (await docker.getImage(options.tag).inspect()).Id;
      return { id };
    },
    async push(source, target, auth, onLine) {
      const [repo, tag] = splitRef(target);
      try {
        await docker.getImage(source).tag({ repo, tag });
      } catch (error) {
        if (failureOf(error).statusCode === 404) {
          throw new ContainerEngineError('image_not_found', `image "${source}" not found on this host`);
        }
        return translate(error, `image "${source}"`);
      }
      let stream: NodeJS.ReadableStream;
      try {
        // The Engine refuses a push without X-Registry-Auth: an anonymous push sends an empty one.
        stream = await docker.getImage(target).push({ authconfig: auth ?? ({} as RegistryAuth) });
      } catch (error) {
        const failure = failureOf(error);
        if (failure.statusCode !== undefined && failure.statusCode < 500) {
          throw new ContainerEngineError('failed', `the push was refused: ${failure.message ?? ''}`);
        }
        return translate(error, `image "${target}"`);
      }
      let digest: string | null = null;
      await follow(docker, stream, onLine, (aux) => {
        if (aux.Digest) digest = aux.Digest;
      });
      return { digest };
    },
    async removeImage(ref) {
      try {
        await docker.getImage(ref).remove({ noprune: false });
      } catch (error) {
        if (failureOf(error).statusCode === 404) {
          throw new ContainerEngineError('image_not_found', `image "${ref}" not found on this host`);
        }
        translate(error, `image "${ref}"`);
      }
    },
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
      const exposed: Record<string, object> = {};
      const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
      for (const port of spec.ports) {
        exposed[`${port}/tcp`] = {};
        bindings[`${port}/tcp`] = [{ HostIp: spec.publishHost, HostPort: '' }];
      }
      const options = {
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
      };
      // Created at once when the image is here (one call to the engine, not an inspect first); the
      // engine's 404 means the image is missing: one in a registry is pulled (with the tenant's
      // credentials) and the create tried again; any other is unknown.
      for (let pulled = false; ; pulled = true) {
        try {
          const container = await docker.createContainer(options);
          return { id: container.id, name: spec.name, created: true };
        } catch (error) {
          const status = failureOf(error).statusCode;
          // The name is taken: a retried create (after a crash or a lost answer) finds its container.
          if (status === 409) {
            const existing = await inspect(spec.name);
            return { id: existing.id, name: existing.name, created: false };
          }
          if (status !== 404 || pulled) return translate(error, `container "${spec.name}"`);
          if (!namesRegistryHost(spec.image)) {
            throw new ContainerEngineError('image_not_found', `image "${spec.image}" not found on this host`);
          }
          await pull(spec.image, spec.registryAuth);
        }
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
