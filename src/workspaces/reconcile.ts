import type { Kysely } from 'kysely';
import { changeWorkspace } from '../commands/workspaces/index.ts';
import type { EventStore } from '../eventstore/port.ts';
import type { Logger } from '../logger.ts';
import type { WorkspacesReadTables } from '../projections/workspaces/index.ts';
import type { AgentKeys } from './agent-keys.ts';
import { agentClient } from './client/agent-client.ts';

export interface ReconcileReport {
  /** Containers Warden made that no workspace owns (agent id, container name, first seen). */
  orphans: Array<{ agentId: string; container: string; workspaceId: string | null; firstSeen: string }>;
  /** Orphans removed in this pass (their grace period was over). */
  removed: Array<{ agentId: string; container: string }>;
  /**
   * Workspaces that should have a container and have none on their (answering) agent: each is marked
   * (`WorkspaceContainerLost`) and the provisioning saga recreates or fails it by the tenant's policy.
   */
  missing: Array<{ workspaceId: string; agentId: string; status: string }>;
  /** Agents that could not be asked (unreachable, no key). */
  unreachable: string[];
}

export interface ReconcilerOptions {
  db: Kysely<unknown>;
  clock: () => Date;
  /** How long an orphan is only reported before it is removed. */
  graceMs: number;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** Where a vanished container is recorded (`WorkspaceContainerLost`). */
  store: EventStore;
  /** Where the agents' keys are read (sealed with the key-encryption key). */
  keys: AgentKeys;
}

/** Statuses in which the workspace's container must exist on its agent. */
const HOLDS_CONTAINER = new Set(['created', 'started', 'routed', 'ready', 'stopping', 'stopped', 'starting']);

/**
 * Compares each agent's Warden-made containers with the workspaces read model. A container no
 * workspace owns is reported, and removed once it has been an orphan for the grace period (a
 * workspace being created is in the read model before its container exists, so a young orphan is
 * only lag). A workspace whose container vanished is reported as missing and marked by an event; the
 * provisioning saga then repairs it by the tenant's policy (recreated on its agent, or failed).
 */
export class Reconciler {
  readonly #firstSeen = new Map<string, Date>();

  constructor(private readonly options: ReconcilerOptions) {}

  async sync(): Promise<ReconcileReport> {
    const db = this.options.db as Kysely<WorkspacesReadTables>;
    const keys = this.options.keys;
    const now = this.options.clock();
    const report: ReconcileReport = { orphans: [], removed: [], missing: [], unreachable: [] };
    const [agents, workspaces] = await Promise.all([
      db.selectFrom('workspace_agents').select(['id', 'url']).execute(),
      db
        .selectFrom('workspace_list')
        .select(['id', 'tenant_id', 'agent_id', 'status', 'container_name'])
        .execute(),
    ]);
    const owners = new Map(workspaces.map((w) => [w.id, w]));
    const seenNow = new Set<string>();
    for (const agent of agents) {
      const key = await keys.get(agent.id);
      if (!key) {
        report.unreachable.push(agent.id);
        continue;
      }
      const client = agentClient({ url: agent.url, key, timeoutMs: 10_000 });
      let containers: Awaited<ReturnType<typeof client.list>>['items'];
      try {
        containers = (await client.list()).items;
      } catch {
        report.unreachable.push(agent.id);
        continue;
      }
      const names = new Set(containers.map((c) => c.name));
      for (const container of containers) {
        const workspaceId = container.labels['warden.workspace'] ?? null;
        const owner = workspaceId ? owners.get(workspaceId) : undefined;
        if (owner && owner.agent_id === agent.id) continue;
        const id = `${agent.id}/${container.name}`;
        seenNow.add(id);
        const firstSeen = this.#firstSeen.get(id) ?? now;
        this.#firstSeen.set(id, firstSeen);
        report.orphans.push({
          agentId: agent.id,
          container: container.name,
          workspaceId,
          firstSeen: firstSeen.toISOString(),
        });
        if (now.getTime() - firstSeen.getTime() >= this.options.graceMs) {
          await client.remove(container.name, { volumes: true });
          report.removed.push({ agentId: agent.id, container: container.name });
          this.#firstSeen.delete(id);
          this.options.logger.warn(
            { agentId: agent.id, container: container.name, workspaceId },
            'orphan container removed',
          );
        }
      }
      for (const workspace of workspaces) {
        if (
          workspace.agent_id !== agent.id ||
          !HOLDS_CONTAINER.has(workspace.status) ||
          !workspace.container_name
        )
          continue;
        if (!names.has(workspace.container_name)) {
          report.missing.push({ workspaceId: workspace.id, agentId: agent.id, status: workspace.status });
          this.options.logger.warn(
            { agentId: agent.id, workspaceId: workspace.id, status: workspace.status },
            'workspace container vanished',
          );
          // The read model may be behind (deleted meanwhile…): the decider refuses, nothing is appended.
          await changeWorkspace(
            this.options.store,
            workspace.tenant_id,
            workspace.id,
            { type: 'RecordContainerLost', reason: 'container vanished', at: now.toISOString() },
            { metadata: { tenantId: workspace.tenant_id, actorId: 'process:reconciler' } },
          ).catch((error: unknown) =>
            this.options.logger.warn(
              { err: error, workspaceId: workspace.id },
              'marking container lost failed',
            ),
          );
        }
      }
    }
    for (const id of this.#firstSeen.keys()) if (!seenNow.has(id)) this.#firstSeen.delete(id);
    if (report.orphans.length > 0 || report.missing.length > 0) {
      this.options.logger.info(
        { orphans: report.orphans.length, removed: report.removed.length, missing: report.missing.length },
        'workspace reconciliation',
      );
    }
    return report;
  }
}
