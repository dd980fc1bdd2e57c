import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.ts';
import type { Logger } from '../../logger.ts';
import {
  liveRoutes,
  ROUTES_CHANNEL,
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
  /**
   * The database's LISTEN: given, the router also syncs as soon as the routes projections announce a
   * change (`ROUTES_CHANNEL`, from any process on this database), and the tick only catches what a
   * lost listening connection missed. `schema` is the one whose announcements count.
   */
  notices?: Pick<Database, 'listen' | 'schema'>;
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
  /** A notice came during a pass, which may have read the read model before that change. */
  #again = false;
  #started = false;
  #unlisten: Promise<(() => Promise<void>) | undefined> = Promise.resolve(undefined);

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
   * Syncs every `intervalMs` and on every routes notice. A tick that finds the last pass still
   * running (an `nginx -t` and reload take longer than a short interval on a busy host) is skipped,
   * not queued behind it: queued passes would run back to back, each reading the read models, for
   * as long as the backlog lasts. A notice during a pass is different (that pass may have read the
   * read model just before the change): it asks for one more pass once this one ends, however many
   * notices come meanwhile.
   */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#timer = setInterval(() => this.#pass(), this.options.intervalMs ?? 500);
    const { notices } = this.options;
    if (notices) {
      this.#unlisten = notices
        .listen(ROUTES_CHANNEL, (schema) => {
          if (schema !== notices.schema) return;
          if (this.#busy) this.#again = true;
          else this.#pass();
        })
        .catch((error: unknown) => {
          // The tick still syncs: only the wake-up is lost.
          this.options.logger.warn({ err: error }, 'routes notices not received; syncing at each tick only');
          return undefined;
        });
    }
  }

  #pass(): void {
    if (this.#busy || !this.#started) return;
    this.#busy = true;
    this.#again = false;
    this.#running = this.sync()
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'nginx routes not applied'))
      .finally(() => {
        this.#busy = false;
        if (this.#again) this.#pass();
      });
  }

  async stop(): Promise<void> {
    this.#started = false;
    clearInterval(this.#timer);
    this.#timer = undefined;
    const unlisten = await this.#unlisten;
    this.#unlisten = Promise.resolve(undefined);
    await unlisten?.();
    await this.#running;
  }
}
