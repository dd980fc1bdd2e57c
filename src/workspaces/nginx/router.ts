import type { Kysely } from 'kysely';
import type { Logger } from '../../logger.ts';
import {
  liveRoutes,
  unavailableWorkspaces,
  type WorkspacesReadTables,
} from '../../projections/workspaces/index.ts';
import { applyRoutes, type NginxTarget } from './apply.ts';
import { type RenderOptions, type Route, renderRoutes, type UnavailableWorkspace } from './render.ts';

export interface NginxRouterOptions extends RenderOptions {
  db: Kysely<unknown>;
  target: NginxTarget;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** How often the routes read model is compared with the live file (default 500 ms). */
  intervalMs?: number;
  /** The renderer (tests pass a broken one to see that a bad render never goes live). */
  render?: (
    routes: readonly Route[],
    options: RenderOptions,
    unavailable: readonly UnavailableWorkspace[],
  ) => string;
}

/**
 * Keeps nginx's routes equal to the routes read model: renders, validates with `nginx -t`, replaces
 * the live file atomically and reloads — only when the rendered text changed. One per nginx host;
 * two on the same host are harmless (the same read model renders the same text, each writes its own
 * temporary file and renames it into place).
 */
export class NginxRouter {
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #busy = false;

  constructor(private readonly options: NginxRouterOptions) {}

  /** One pass; true when nginx was reloaded with new routes. */
  async sync(): Promise<boolean> {
    const db = this.options.db as Kysely<WorkspacesReadTables>;
    const started = performance.now();
    const [rows, down] = await Promise.all([liveRoutes(db), unavailableWorkspaces(db)]);
    const routes = rows.map((row) => ({
      workspaceId: row.workspace_id,
      userId: row.user_id,
      upstream: row.upstream,
    }));
    const unavailable = down.map((row) => ({
      workspaceId: row.id,
      userId: row.user_id,
      since: new Date(row.updated_at).toISOString(),
    }));
    const render = this.options.render ?? renderRoutes;
    const changed = await applyRoutes(this.options.target, render(routes, this.options, unavailable));
    if (changed) {
      // How long the pass took (reads, `nginx -t`, the rename and the reload): what a new route waits.
      const tookMs = Math.round(performance.now() - started);
      this.options.logger.info({ routes: routes.length, took_ms: tookMs }, 'nginx routes reloaded');
    }
    return changed;
  }

  /**
   * Syncs every `intervalMs`; a tick that finds the last pass still running (an `nginx -t` and reload
   * take longer than a short interval on a busy host) is skipped, not queued behind it: queued passes
   * would run back to back, each reading the read models, for as long as the backlog lasts.
   */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#busy) return;
      this.#busy = true;
      this.#running = this.sync()
        .catch((error: unknown) => this.options.logger.error({ err: error }, 'nginx routes not applied'))
        .finally(() => {
          this.#busy = false;
        });
    }, this.options.intervalMs ?? 500);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
