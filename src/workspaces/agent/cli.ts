import { createLogger } from '../../logger.ts';
import { listen, stopSignal } from '../../runtime/index.ts';
import { dockerEngine } from '../docker/dockerode.ts';
import { agentApp } from './app.ts';
import { checkAgentConfig } from './config.ts';
import { hostStats } from './host-stats.ts';
import { fileKeyStore, nodeHostProbes } from './key-store.ts';

/**
 * `warden agent`: checks the configuration (every bad value named on stderr, exit 2), then serves the
 * agent API until SIGTERM/SIGINT. The environment is passed in by `main`, which alone reads it.
 */
export async function agentCommand(
  _argv: string[],
  env: Record<string, string | undefined>,
  stderr: { write(text: string): void } = process.stderr,
): Promise<number> {
  const probes = nodeHostProbes((socketPath) => dockerEngine({ socketPath }).ping());
  const checked = await checkAgentConfig(env, probes);
  if (!checked.config) {
    stderr.write(
      `warden agent: the configuration is not valid:\n${checked.problems.map((p) => `  ${p}\n`).join('')}`,
    );
    return 2;
  }
  const config = checked.config;
  // Taken before it starts: a signal the instant it says it listens stops it cleanly (see stopSignal).
  const stopped = stopSignal();
  const logger = createLogger(config.LOG_LEVEL).child({ component: 'agent' });
  const keys = fileKeyStore(config.WARDEN_AGENT_WORK_DIR);
  const initialKey = await keys.read();
  const app = agentApp({
    engine: dockerEngine({ socketPath: config.WARDEN_AGENT_DOCKER_SOCKET }),
    keys,
    initialKey,
    enrolmentToken: config.WARDEN_AGENT_ENROLMENT_TOKEN,
    clock: () => new Date(),
    maxSkewSeconds: config.WARDEN_AGENT_MAX_SKEW_SECONDS,
    publishHost: config.WARDEN_AGENT_PUBLISH_HOST,
    stats: () => hostStats(config.WARDEN_AGENT_WORK_DIR),
    logger,
    workDir: config.WARDEN_AGENT_WORK_DIR,
  });
  const server = await listen(app.fetch, {
    port: config.WARDEN_AGENT_PORT,
    hostname: config.WARDEN_AGENT_HOST,
  });
  logger.info(
    { url: `http://${config.WARDEN_AGENT_HOST}:${server.port}`, enrolled: initialKey !== undefined },
    'agent is listening',
  );
  const signal = await stopped;
  logger.info({ signal }, 'agent stopping');
  await server.close(5_000);
  return 0;
}
