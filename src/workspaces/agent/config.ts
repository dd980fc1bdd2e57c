import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);

/** The agent's configuration, from its environment (read once, in `warden agent`). */
export const AgentConfigSchema = z.object({
  WARDEN_AGENT_HOST: z.string().min(1).default('127.0.0.1'),
  WARDEN_AGENT_PORT: port.default(7070),
  WARDEN_AGENT_DOCKER_SOCKET: z.string().min(1).default('/var/run/docker.sock'),
  /** Where the agent keeps its key (and, later, workspace data): must be readable and writable. */
  WARDEN_AGENT_WORK_DIR: z.string().min(1),
  /** The nginx configuration file routes are written to on this host, when nginx runs here. */
  WARDEN_AGENT_NGINX_CONF: z.string().min(1).optional(),
  /** Exchanged once for the agent's key; not needed once the agent is enrolled. */
  WARDEN_AGENT_ENROLMENT_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  /** The address container ports are published on (the one nginx reaches). */
  WARDEN_AGENT_PUBLISH_HOST: z.ipv4().default('127.0.0.1'),
  /** How far a request's timestamp may be from the agent's clock. */
  WARDEN_AGENT_MAX_SKEW_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type AgentConfig = z.infer<typeof AgentConfigSchema>;

/** What start-up checks on the host, passed in so the checks are testable. */
export interface HostProbes {
  /** True when the Docker Engine answers on this socket. */
  dockerAnswers(socketPath: string): Promise<boolean>;
  /** Why `dir` is not a readable and writable folder, or undefined when it is. */
  folderProblem(dir: string): Promise<string | undefined>;
  /** True when a key file already exists in the work folder. */
  enrolled(workDir: string): Promise<boolean>;
}

/**
 * Parses and checks the configuration: every bad value is named (`NAME: why`), not just the first,
 * so one start-up shows everything to fix.
 */
export async function checkAgentConfig(
  env: Record<string, string | undefined>,
  probes: HostProbes,
): Promise<{ config: AgentConfig; problems: [] } | { config?: undefined; problems: string[] }> {
  const parsed = AgentConfigSchema.safeParse(env);
  if (!parsed.success) {
    return {
      problems: parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
    };
  }
  const config = parsed.data;
  const problems: string[] = [];
  const [docker, workDir, nginxDir] = await Promise.all([
    probes.dockerAnswers(config.WARDEN_AGENT_DOCKER_SOCKET),
    probes.folderProblem(config.WARDEN_AGENT_WORK_DIR),
    config.WARDEN_AGENT_NGINX_CONF === undefined
      ? Promise.resolve(undefined)
      : probes.folderProblem(parentOf(config.WARDEN_AGENT_NGINX_CONF)),
  ]);
  if (!docker) {
    problems.push(
      `WARDEN_AGENT_DOCKER_SOCKET: no Docker Engine answers on ${config.WARDEN_AGENT_DOCKER_SOCKET}`,
    );
  }
  if (workDir) problems.push(`WARDEN_AGENT_WORK_DIR: ${config.WARDEN_AGENT_WORK_DIR} ${workDir}`);
  if (nginxDir) {
    problems.push(`WARDEN_AGENT_NGINX_CONF: the folder of ${config.WARDEN_AGENT_NGINX_CONF} ${nginxDir}`);
  }
  if (
    config.WARDEN_AGENT_ENROLMENT_TOKEN === undefined &&
    !workDir &&
    !(await probes.enrolled(config.WARDEN_AGENT_WORK_DIR))
  ) {
    problems.push('WARDEN_AGENT_ENROLMENT_TOKEN: required until the agent is enrolled');
  }
  return problems.length === 0 ? { config, problems: [] } : { problems };
}

function parentOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}
