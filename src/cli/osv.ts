import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import type { Kysely } from 'kysely';
import type { EventStore } from '../eventstore/port.ts';
import type { AdvisoryTables, OsvProgress } from '../packages/index.ts';
import { importOsv } from '../packages/index.ts';
import {
  type CommandIo,
  dispatch,
  HELP_OPTION,
  help,
  invalid,
  type ParsedArgs,
  parseWith,
  run,
} from './command.ts';

export const OSV_USAGE = `Usage:
  warden osv import <path>   import OSV advisories (a folder of OSV JSON, or a .zip of them, streamed);
                             packages already approved or published that a new advisory affects are
                             flagged. Progress goes to stderr: a bar on a terminal, else JSON lines`;

export type OsvArgs = { action: 'import'; path: string };

/** `osv import <path>`. */
export function parseOsvArgs(argv: readonly string[]): ParsedArgs<OsvArgs> {
  return parseWith<OsvArgs>(() => {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: HELP_OPTION,
      allowPositionals: true,
    });
    if (values.help) return help;
    const [action, path, ...rest] = positionals;
    if (action !== 'import')
      return invalid(action ? `unknown osv command "${action}"` : 'name an osv command');
    if (!path) return invalid('name the folder or .zip to import');
    if (rest.length > 0) return invalid(`unexpected argument ${rest[0]}`);
    return run({ action, path });
  });
}

export interface OsvCommandDeps extends CommandIo {
  db: Kysely<AdvisoryTables>;
  store: EventStore;
  /** Largest record accepted once inflated (`WARDEN_OSV_MAX_ENTRY_BYTES`). */
  maxEntryBytes?: number;
  /** Where progress goes (default stderr): a bar when it is a terminal, else JSON lines. */
  progress?: (NodeJS.WritableStream & { isTTY?: boolean }) | undefined;
}

/** `warden osv import <path>`. Exit code 0 imported, 1 the path cannot be read or was refused, 2 bad usage. */
export function osvCommand(argv: readonly string[], deps: OsvCommandDeps): Promise<number> {
  return dispatch(parseOsvArgs(argv), OSV_USAGE, { errors: process.stderr, ...deps }, (args) =>
    runOsv(args, deps),
  );
}

/** JSON progress lines: one per `every` records (and the first and last), so a log stays short. */
const JSON_PROGRESS_EVERY = 1000;

/**
 * Reports import progress on `stream`: a cli-progress bar on a terminal; otherwise a JSON line
 * `{"osv_import":{"done":…,"total":…}}` at the start, every 1,000 records and at the end.
 */
function progressReporter(stream: NodeJS.WritableStream & { isTTY?: boolean }) {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: 'osv import [{bar}] {percentage}% | {value}/{total} records | ETA {eta_formatted}',
        hideCursor: true,
        etaBuffer: 200,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      onProgress(p: OsvProgress) {
        if (!started) {
          started = true;
          bar.start(Math.max(p.total, 1), p.done);
        } else bar.update(p.done);
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
  let last: OsvProgress | undefined;
  let written: OsvProgress | undefined;
  const write = (p: OsvProgress) => {
    written = p;
    stream.write(`${JSON.stringify({ osv_import: p })}\n`);
  };
  return {
    onProgress(p: OsvProgress) {
      last = p;
      if (!written || p.done === p.total || p.done - written.done >= JSON_PROGRESS_EVERY) write(p);
    },
    stop: () => {
      if (last && written !== last) write(last);
    },
  };
}

/** Runs parsed `osv` arguments. */
export async function runOsv({ path }: OsvArgs, deps: OsvCommandDeps): Promise<number> {
  const output = deps.output ?? process.stdout;
  const print = (line: string) => output.write(`${line}\n`);
  const errors = deps.errors ?? process.stderr;
  try {
    await stat(path);
  } catch {
    errors.write(`cannot read ${path}\n`);
    return 1;
  }
  const progress = progressReporter(deps.progress ?? process.stderr);
  let result: Awaited<ReturnType<typeof importOsv>>;
  try {
    result = await importOsv({
      db: deps.db,
      store: deps.store,
      path,
      onProgress: progress.onProgress,
      ...(deps.maxEntryBytes !== undefined ? { maxEntryBytes: deps.maxEntryBytes } : {}),
    });
  } finally {
    progress.stop();
  }
  print(
    `advisories  ${result.total} npm records read, ${result.changed} new or changed, ${result.withdrawn} withdrawn`,
  );
  print(`import      ${result.recorded ? result.importId : '(nothing changed: no new import recorded)'}`);
  for (const error of result.errors.slice(0, 20)) print(`skipped     ${error.file}: ${error.error}`);
  if (result.errors.length > 20) print(`skipped     … and ${result.errors.length - 20} more`);
  if (result.aborted) {
    errors.write(`refused     ${result.aborted}\n`);
    return 1;
  }
  return 0;
}
