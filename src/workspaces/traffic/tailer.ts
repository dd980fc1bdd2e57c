import { open, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Logger } from '../../logger.ts';
import { recordTraffic, type TrafficTables } from './store.ts';

/** One line of the `warden_traffic` log format the rendered nginx configuration declares. */
const TrafficLine = z.object({
  time: z.string(),
  ws: z.uuid(),
  status: z.number().int(),
  in: z.number().int().nonnegative(),
  out: z.number().int().nonnegative(),
});

type Tables = TrafficTables & { workspace_list: { id: string; tenant_id: string } };

export interface TrafficTailerOptions {
  db: Kysely<unknown>;
  /** WARDEN_NGINX_ACCESS_LOG: the file nginx appends the workspaces' JSON lines to. */
  file: string;
  /** Where the offset is kept: this host and file by default (each nginx host has its own log). */
  source?: string;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** Bytes read per chunk (default 4 MiB): a long backlog is read in pieces, never whole. */
  chunkBytes?: number;
}

export interface IngestReport {
  /** Lines counted against a workspace. */
  counted: number;
  /** Lines skipped: not the expected shape, or of a workspace Warden does not know. */
  skipped: number;
  /** True when the file was found replaced (rotated) since the last pass. */
  rotated: boolean;
}

type Minute = {
  workspaceId: string;
  tenantId: string;
  minute: Date;
  requests: number;
  bytesIn: number;
  bytesOut: number;
};

/**
 * Reads nginx's workspace access log incrementally into per-minute traffic: from the offset saved
 * with the last batch to the last complete line, counted and the new offset saved in one transaction
 * (a crash re-reads what was not committed, never counts a line twice). A log replaced under it
 * (rotation: a new inode) is first read to its end if it still lies beside it as `<file>.1`, then the
 * new file is read from its start; a file shorter than the offset (truncated in place) also restarts.
 */
export class TrafficTailer {
  readonly #source: string;

  constructor(private readonly options: TrafficTailerOptions) {
    this.#source = options.source ?? `${hostname()}:${options.file}`;
  }

  /** The name this log's offset is kept under (and its tailer's lease is named after). */
  get source(): string {
    return this.#source;
  }

  async ingest(): Promise<IngestReport> {
    const db = this.options.db as Kysely<Tables>;
    const report: IngestReport = { counted: 0, skipped: 0, rotated: false };
    const current = await stat(this.options.file).catch(() => undefined);
    if (!current) return report;
    const inode = String(current.ino);
    const saved = await db
      .selectFrom('warden_traffic_offsets')
      .select(['inode', 'offset'])
      .where('source', '=', this.#source)
      .executeTakeFirst();
    let offset = 0;
    if (saved && saved.inode === inode) {
      offset = Number(saved.offset);
      if (current.size < offset) offset = 0;
    } else if (saved) {
      report.rotated = true;
      const previous = `${this.options.file}.1`;
      const old = await stat(previous).catch(() => undefined);
      if (old && String(old.ino) === saved.inode) {
        await this.#read(previous, saved.inode, Number(saved.offset), report);
      }
    }
    await this.#read(this.options.file, inode, offset, report);
    if (report.skipped > 0) this.options.logger.warn({ ...report }, 'traffic lines skipped');
    return report;
  }

  /** Reads `file` from `offset` to its last complete line, a chunk per transaction. */
  async #read(file: string, inode: string, from: number, report: IngestReport): Promise<void> {
    const handle = await open(file, 'r');
    try {
      const chunk = Buffer.alloc(this.options.chunkBytes ?? 4 * 1024 * 1024);
      let offset = from;
      for (;;) {
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, offset);
        const end = chunk.subarray(0, bytesRead).lastIndexOf(10);
        if (end < 0) {
          if (bytesRead === chunk.length) {
            // A line longer than a chunk is not one nginx wrote for us: skip past it.
            offset += bytesRead;
            report.skipped += 1;
            continue;
          }
          break;
        }
        const text = chunk.subarray(0, end).toString('utf8');
        offset += end + 1;
        const minutes = await this.#count(text.split('\n'), report);
        await recordTraffic(this.options.db, { source: this.#source, inode, offset, minutes });
      }
    } finally {
      await handle.close();
    }
  }

  async #count(lines: readonly string[], report: IngestReport): Promise<Minute[]> {
    const parsed: Array<z.infer<typeof TrafficLine>> = [];
    for (const line of lines) {
      if (line.trim() === '') continue;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        report.skipped += 1;
        continue;
      }
      const result = TrafficLine.safeParse(json);
      if (result.success && Number.isFinite(Date.parse(result.data.time))) parsed.push(result.data);
      else report.skipped += 1;
    }
    if (parsed.length === 0) return [];
    const db = this.options.db as Kysely<Tables>;
    const ids = [...new Set(parsed.map((line) => line.ws))];
    const owners = new Map(
      (
        await db.selectFrom('workspace_list').select(['id', 'tenant_id']).where('id', 'in', ids).execute()
      ).map((row) => [row.id, row.tenant_id]),
    );
    const minutes = new Map<string, Minute>();
    for (const line of parsed) {
      const tenantId = owners.get(line.ws);
      if (tenantId === undefined) {
        report.skipped += 1;
        continue;
      }
      const minute = new Date(Math.floor(Date.parse(line.time) / 60_000) * 60_000);
      const key = `${line.ws}@${minute.getTime()}`;
      const entry = minutes.get(key) ?? {
        workspaceId: line.ws,
        tenantId,
        minute,
        requests: 0,
        bytesIn: 0,
        bytesOut: 0,
      };
      entry.requests += 1;
      entry.bytesIn += line.in;
      entry.bytesOut += line.out;
      minutes.set(key, entry);
      report.counted += 1;
    }
    return [...minutes.values()];
  }
}
