import { mkdtempSync, rmSync } from 'node:fs';
import { transactionBindingFor } from '../../src/eventstore/postgres/transactional-store.ts';
import { createLogger } from '../../src/logger.ts';
import { startWorkers, type Worker } from '../../src/processes/runtime/index.ts';
import {
  type ImageBuildJobs,
  startImageBuildJobs,
  workspaceProvisioning,
} from '../../src/processes/workspaces/index.ts';
import { agentKeys } from '../../src/workspaces/index.ts';
import type { SignedInUser, TestApp } from '../support/app.ts';
import { freePort, runWarden, until } from '../support/cli.ts';
import type { Dockerd } from '../support/docker.ts';

export interface RunningAgent {
  url: string;
  port: number;
  workDir: string;
  token: string;
  /** The running agent process's id (it changes with a restart). */
  readonly pid: number | undefined;
  /** SIGKILL (the host dies) or SIGTERM (a clean stop), then wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Sends the running agent a signal without waiting (SIGSTOP freezes it, SIGCONT thaws it). */
  signal(signal: NodeJS.Signals): void;
  /** Starts the agent again on the same port and work folder (its key survives in the folder). */
  restart(): Promise<void>;
  /** Stops the agent and removes its work folder. */
  dispose(): Promise<void>;
  err(): string;
}

/**
 * The real `warden agent` process (bin/warden.js agent) on a loopback port, driving `daemon`, with a
 * work folder of its own and a fresh enrolment token.
 */
export async function startAgent(daemon: Dockerd, env: Record<string, string> = {}): Promise<RunningAgent> {
  const port = await freePort();
  const workDir = mkdtempSync('/tmp/wa-');
  const token = `enrol-${crypto.randomUUID()}`;
  const url = `http://127.0.0.1:${port}`;
  let running = launch();

  function launch() {
    return runWarden(['agent'], {
      WARDEN_AGENT_PORT: String(port),
      WARDEN_AGENT_DOCKER_SOCKET: daemon.socket,
      WARDEN_AGENT_WORK_DIR: workDir,
      WARDEN_AGENT_ENROLMENT_TOKEN: token,
      ...env,
    });
  }
  const answering = () =>
    until(
      () =>
        fetch(`${url}/openapi.json`).then(
          async (r) => {
            await r.body?.cancel();
            return r.ok;
          },
          () => false,
        ),
      running.child,
      // Starting the CLI compiles TypeScript: on a loaded machine (load 25+) two at once take minutes.
      180_000,
    ).catch((error: unknown) => {
      throw new Error(`the agent did not start: ${running.err()}`, { cause: error });
    });
  await answering();
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill(signal);
    await running.exited;
  };
  return {
    url,
    port,
    workDir,
    token,
    get pid() {
      return running.child.pid;
    },
    stop,
    signal: (signal) => {
      running.child.kill(signal);
    },
    async restart() {
      await stop();
      running = launch();
      await answering();
    },
    async dispose() {
      await stop();
      rmSync(workDir, { recursive: true, force: true });
    },
    err: () => running.err(),
  };
}

/** What an agent offers (`capacity` of `POST /v1/agents`). */
export interface AgentCapacity {
  cpus: number;
  memory_mb: number;
  workspaces: number;
}

/**
 * Registers an agent in `as`'s tenant through `POST /v1/agents` (anything but a 201 throws, with the
 * answer's status and body) and, unless `waitMs` is `false`, waits until the agent list shows it.
 * `agent` is what the agent's operator hands over: where it listens and its enrolment token. Resolves
 * to the agent's id and the registration's position.
 */
export async function registerAgentViaApi(
  t: TestApp,
  as: Pick<SignedInUser, 'token' | 'tenantSlug'>,
  agent: { url: string; token: string },
  options: { name?: string; capacity?: AgentCapacity; waitMs?: number | false } = {},
): Promise<{ id: string; position: string }> {
  const registered = await t.request('/v1/agents', {
    token: as.token,
    tenant: as.tenantSlug,
    json: {
      name: options.name ?? `host-${crypto.randomUUID().slice(0, 8)}`,
      url: agent.url,
      enrolment_token: agent.token,
      capacity: options.capacity ?? { cpus: 4, memory_mb: 4096, workspaces: 10 },
    },
  });
  if (registered.status !== 201) {
    throw new Error(`POST /v1/agents answered ${registered.status}: ${await registered.text()}`);
  }
  const position = registered.headers.get('x-position') ?? '0';
  const waitMs = options.waitMs ?? 5_000;
  if (waitMs !== false) await t.engine.waitFor(['workspaceAgentList'], BigInt(position), waitMs);
  return { id: ((await registered.json()) as { id: string }).id, position };
}

/**
 * The image build jobs on a test app's database, as a worker runs them (agents' keys opened with the
 * app's sealer, silent, polling every 100 ms); `options` adds or overrides.
 */
export function imageJobsFor(
  t: TestApp,
  options: Partial<Parameters<typeof startImageBuildJobs>[0]> = {},
): ImageBuildJobs {
  return startImageBuildJobs({
    database: t.database,
    store: t.store,
    keys: agentKeys(t.database.db as never, t.identity.sealer),
    owner: `images-${crypto.randomUUID().slice(0, 8)}`,
    logger: createLogger('silent'),
    pollMs: 100,
    ...options,
  });
}

/**
 * The provisioning saga on a test app's database, as `warden worker` runs it: appends join the
 * handling transaction and the agents' sealed keys open with the app's sealer.
 */
export function provisioningWorkers(t: TestApp, partitions = 2): Promise<Worker> {
  return startWorkers({
    database: t.database,
    store: t.store,
    storeIn: transactionBindingFor(t.database, t.store),
    processes: [workspaceProvisioning],
    personalData: t.personalData,
    sealer: t.identity.sealer,
    partitions,
  });
}
