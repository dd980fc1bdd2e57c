import type { Kysely } from 'kysely';
import { parseReplayPoint, type ReplayResult, replayStream } from '../audit/replay.ts';
import { replaySnapshots } from '../audit/snapshots.ts';
import { type AggregateRegistry, aggregateRegistry, upcasters } from '../commands/registry/index.ts';
import type { Tables } from '../db/tables.ts';
import type { EventStore } from '../eventstore/port.ts';

const USAGE = `Usage:
  warden replay <streamId> [--at <revision | ISO time>] [--diff] [--json]
    --at    the point to replay to: a revision (0, 1, …) or a time (2026-01-31T12:00:00Z); default: now
    --diff  print each event folded and what it changed
    --json  print the result as one JSON object`;

export interface ReplayCommandDeps {
  store: EventStore;
  aggregates?: AggregateRegistry;
  /** The service's database: replay keeps its snapshots there (none without it). */
  db?: Kysely<Tables>;
  output?: NodeJS.WritableStream;
}

/**
 * `warden replay <streamId>`: an entity's state at a point, folded with its aggregate's own
 * `evolve`. Exit code 0 done, 1 unknown stream (or no aggregate for it), 2 bad usage.
 */
export async function replayCommand(argv: string[], deps: ReplayCommandDeps): Promise<number> {
  const output = deps.output ?? process.stdout;
  const print = (line: string) => output.write(`${line}\n`);
  const args = parseArgs(argv);
  if (!args.ok) {
    print(`${args.message}\n\n${USAGE}`);
    return 2;
  }
  const point = parseReplayPoint(args.at);
  if (!point.ok) {
    print(`--at ${point.message}`);
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

type Args =
  | { ok: true; streamId: string; at: string | undefined; diff: boolean; json: boolean }
  | { ok: false; message: string };

function parseArgs(argv: string[]): Args {
  let streamId: string | undefined;
  let at: string | undefined;
  let diff = false;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--diff') diff = true;
    else if (arg === '--json') json = true;
    else if (arg === '--at' || arg.startsWith('--at=')) {
      at = arg === '--at' ? argv[++i] : arg.slice('--at='.length);
      if (at === undefined || at === '') return { ok: false, message: '--at needs a value' };
    } else if (arg.startsWith('--')) return { ok: false, message: `unknown option ${arg}` };
    else if (streamId === undefined) streamId = arg;
    else return { ok: false, message: `unexpected argument ${arg}` };
  }
  if (!streamId) return { ok: false, message: 'name the stream to replay' };
  return { ok: true, streamId, at, diff, json };
}
