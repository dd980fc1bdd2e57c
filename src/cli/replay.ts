import { parseArgs } from 'node:util';
import type { Kysely } from 'kysely';
import { parseReplayPoint, type ReplayResult, replaySnapshots, replayStream } from '../audit/index.ts';
import { type AggregateRegistry, aggregateRegistry } from '../commands/registry/index.ts';
import type { Tables } from '../db/tables.ts';
import type { EventStore } from '../eventstore/port.ts';
import { upcasters } from '../eventstore/upcasters.ts';
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

export const REPLAY_USAGE = `Usage:
  warden replay <streamId> [--at <revision | ISO time>] [--diff] [--json]
    --at    the point to replay to: a revision (0, 1, …) or a time (2026-01-31T12:00:00Z); default: now
    --diff  print each event folded and what it changed
    --json  print the result as one JSON object`;

export interface ReplayArgs {
  streamId: string;
  at: string | undefined;
  diff: boolean;
  json: boolean;
}

/** `replay <streamId> [--at <point>] [--diff] [--json]`, options in any order. */
export function parseReplayArgs(argv: readonly string[]): ParsedArgs<ReplayArgs> {
  return parseWith<ReplayArgs>(() => {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: {
        ...HELP_OPTION,
        at: { type: 'string' },
        diff: { type: 'boolean' },
        json: { type: 'boolean' },
      },
      allowPositionals: true,
    });
    if (values.help) return help;
    const [streamId, ...rest] = positionals;
    if (!streamId) return invalid('name the stream to replay');
    if (rest.length > 0) return invalid(`unexpected argument ${rest[0]}`);
    if (values.at === '') return invalid('--at needs a value');
    return run({ streamId, at: values.at, diff: values.diff ?? false, json: values.json ?? false });
  });
}

export interface ReplayCommandDeps extends CommandIo {
  store: EventStore;
  aggregates?: AggregateRegistry;
  /** The service's database: replay keeps its snapshots there (none without it). */
  db?: Kysely<Tables>;
}

/**
 * `warden replay <streamId>`: an entity's state at a point, folded with its aggregate's own
 * `evolve`. Exit code 0 done, 1 unknown stream (or no aggregate for it), 2 bad usage.
 */
export function replayCommand(argv: readonly string[], deps: ReplayCommandDeps): Promise<number> {
  return dispatch(parseReplayArgs(argv), REPLAY_USAGE, deps, (args) => runReplay(args, deps));
}

/** Runs parsed `replay` arguments. */
export async function runReplay(args: ReplayArgs, deps: ReplayCommandDeps): Promise<number> {
  const output = deps.output ?? process.stdout;
  const print = (line: string) => output.write(`${line}\n`);
  const point = parseReplayPoint(args.at);
  if (!point.ok) {
    (deps.errors ?? deps.output ?? process.stderr).write(`--at ${point.message}\n`);
    return 2;
  }
  const outcome = await replayStream(
    deps.store,
    deps.aggregates ?? aggregateRegistry(),
    args.streamId,
    point.point,
    {
      steps: args.diff,
      ...(deps.db
        ? {
            // cast: Kysely's table map is invariant; the snapshots read the same database untyped.
            snapshots: replaySnapshots(deps.db as unknown as Kysely<unknown>, {
              upcasters: upcasters.fingerprint,
            }),
          }
        : {}),
    },
  );
  if (!outcome.ok) {
    print(
      outcome.reason === 'unknown-stream'
        ? `no stream ${args.streamId}`
        : `stream ${args.streamId} has no aggregate to replay (registered: src/commands/registry/aggregates.ts)`,
    );
    return 1;
  }
  if (args.json) print(JSON.stringify(outcome.result));
  else print(render(outcome.result, args.at));
  return 0;
}

/** The human form: a header, each step's changes with `--diff`, then the state. */
export function render(result: ReplayResult, at: string | undefined): string {
  const lines: string[] = [];
  const where =
    result.revision < 0
      ? 'before its first event: the initial state'
      : `at revision ${result.revision} of ${result.latestRevision} (recorded ${result.recordedAt})`;
  lines.push(`${result.streamId} (${result.entity})${at ? ` --at ${at}` : ''}: ${where}`);
  for (const step of result.steps ?? []) {
    const by = step.actorId ? ` by ${step.actorId}` : '';
    lines.push(`@${step.revision} ${step.type}  ${step.recordedAt}${by}`);
    if (step.changes.length === 0) lines.push('    (no change)');
    for (const change of step.changes) {
      lines.push(`    ${change.path}: ${JSON.stringify(change.from)} → ${JSON.stringify(change.to)}`);
    }
  }
  lines.push(JSON.stringify(result.state, null, 2));
  return lines.join('\n');
}
