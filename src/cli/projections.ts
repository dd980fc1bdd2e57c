import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import type { ProjectionEngine, ProjectionStatus, RebuildProgress } from '../projections/engine/index.ts';
import { isProjectionEngineError, RebuildFailedError } from '../projections/engine/index.ts';
import {
  type CommandIo,
  dispatch,
  HELP_OPTION,
  help,
  invalid,
  type ParsedArgs,
  parseWith,
  run,
  toJson,
} from './command.ts';

export const PROJECTIONS_USAGE = `Usage:
  warden projections list [--json]    each projection's state, position, lag and last error
  warden projections rebuild <name>   rebuild a read model from the events, without downtime`;

export type ProjectionsArgs = { action: 'list'; json: boolean } | { action: 'rebuild'; name: string };

/** `projections list [--json] | rebuild <name>`. */
export function parseProjectionsArgs(argv: readonly string[]): ParsedArgs<ProjectionsArgs> {
  return parseWith<ProjectionsArgs>(() => {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: { ...HELP_OPTION, json: { type: 'boolean' } },
      allowPositionals: true,
    });
    if (values.help) return help;
    const [action, ...rest] = positionals;
    if (action === 'list') {
      if (rest.length > 0) return invalid(`unexpected argument ${rest[0]}`);
      return run({ action, json: values.json ?? false });
    }
    if (action === 'rebuild') {
      if (values.json) return invalid('--json goes with list');
      if (rest.length !== 1)
        return invalid(
          rest.length === 0 ? 'name the projection to rebuild' : `unexpected argument ${rest[1]}`,
        );
      return run({ action, name: rest[0]! });
    }
    return invalid(action ? `unknown projections command "${action}"` : 'name a projections command');
  });
}

export interface ProjectionsCommandDeps extends CommandIo {
  engine: Pick<ProjectionEngine, 'status' | 'rebuild'>;
  /** Where the table, the progress bar and the result go (default: stdout). */
  output?: (NodeJS.WritableStream & { isTTY?: boolean }) | undefined;
}

/**
 * `warden projections list | rebuild <name>`. Returns the exit code: 0 done, 1 the operation failed
 * (unknown projection, a rebuild already running, a failing event), 2 bad usage.
 */
export function projectionsCommand(argv: readonly string[], deps: ProjectionsCommandDeps): Promise<number> {
  return dispatch(parseProjectionsArgs(argv), PROJECTIONS_USAGE, deps, (args) => runProjections(args, deps));
}

/** Runs parsed `projections` arguments. */
export async function runProjections(args: ProjectionsArgs, deps: ProjectionsCommandDeps): Promise<number> {
  const output = deps.output ?? process.stdout;
  const print = (line: string) => output.write(`${line}\n`);
  try {
    if (args.action === 'list') {
      const statuses = await deps.engine.status();
      print(args.json ? toJson(statuses) : renderTable(statuses));
      return 0;
    }
    return await rebuild(args.name, deps.engine, output, print);
  } catch (error) {
    if (!isProjectionEngineError(error)) throw error;
    print(describeError(error));
    return 1;
  }
}

async function rebuild(
  name: string,
  engine: ProjectionsCommandDeps['engine'],
  output: NodeJS.WritableStream & { isTTY?: boolean },
  print: (line: string) => void,
): Promise<number> {
  const bar = new cliProgress.SingleBar(
    {
      stream: output,
      format: `${name} [{bar}] {percentage}% | {value}/{total} events | {rate} events/s | ETA {eta_formatted}`,
      hideCursor: true,
      // Redirected to a file or a CI log: a line every two seconds instead of redraws.
      noTTYOutput: true,
      notTTYSchedule: 2000,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  let running = false;
  const onProgress = (progress: RebuildProgress) => {
    const seconds = (performance.now() - started) / 1000;
    const rate = Math.round(progress.done / Math.max(seconds, 1e-3)).toLocaleString('en');
    if (!running) {
      running = true;
      bar.start(Math.max(progress.total, 1), progress.done, { rate });
      return;
    }
    bar.setTotal(Math.max(progress.total, 1));
    bar.update(progress.done, { rate });
  };
  try {
    const result = await engine.rebuild(name, { onProgress });
    if (running) bar.stop();
    print(
      `rebuilt ${name}: ${result.events.toLocaleString('en')} events in ${result.seconds.toFixed(2)} s ` +
        `(${result.eventsPerSecond.toLocaleString('en')} events/s)`,
    );
    return 0;
  } catch (error) {
    if (running) bar.stop();
    throw error;
  }
}

/** A plain-text table: NAME, VERSION, STATE, POSITION, LAG, LAST ERROR. */
export function renderTable(statuses: readonly ProjectionStatus[]): string {
  const rows = [
    ['NAME', 'VERSION', 'STATE', 'POSITION', 'LAG', 'LAST ERROR'],
    ...statuses.map((s) => [
      s.name,
      String(s.version),
      s.rebuild ? `${s.state} ${percent(s.rebuild)}` : s.state,
      s.position.toString(),
      s.lag.toLocaleString('en'),
      s.lastError ? describeLastError(s.lastError) : '-',
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '),
    )
    .join('\n');
}

function percent({ done, total }: RebuildProgress): string {
  return `${total === 0 ? 0 : Math.floor((done / total) * 100)}%`;
}

function describeLastError(error: NonNullable<ProjectionStatus['lastError']>): string {
  const where = error.eventId ? ` (event ${error.eventId} at position ${error.position})` : '';
  return `${error.message}${where}`;
}

function describeError(error: Error): string {
  if (error instanceof RebuildFailedError && error.eventId) {
    return `${error.message} (event ${error.eventId} at position ${error.position}); the live tables are unchanged`;
  }
  return error.message;
}
