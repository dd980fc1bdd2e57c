import { parseArgs } from 'node:util';
import packageJson from '../../package.json' with { type: 'json' };
import type { Logger } from '../logger.ts';
import type { Service } from '../service.ts';

/**
 * What a command's arguments came to: something to run, a request for its usage, or a usage error.
 * Parsing comes first and opens nothing, so `--help` and bad usage answer without a configuration or
 * a database.
 */
export type ParsedArgs<A> =
  | { kind: 'run'; args: A }
  | { kind: 'help' }
  | { kind: 'invalid'; message: string };

/** `-h` / `--help`, accepted by every command. */
export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

export const help = { kind: 'help' } as const;
export const invalid = (message: string) => ({ kind: 'invalid', message }) as const;
export const run = <A>(args: A) => ({ kind: 'run', args }) as const;

/** Runs `parse` (a `node:util` `parseArgs` call and checks); its thrown usage errors become `invalid`. */
export function parseWith<A>(parse: () => ParsedArgs<A>): ParsedArgs<A> {
  try {
    return parse();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_'))
      return invalid((error as Error).message);
    throw error;
  }
}

/** Where a command writes: its results (stdout) and its complaints (stderr). */
export interface CommandIo {
  output?: NodeJS.WritableStream | undefined;
  /** Usage errors; default: `output` when one is given (a test capturing everything), else stderr. */
  errors?: NodeJS.WritableStream | undefined;
}

/** Prints the usage for `help` (exit 0) or the error and the usage for `invalid` (exit 2); else runs. */
export async function dispatch<A>(
  parsed: ParsedArgs<A>,
  usage: string,
  io: CommandIo,
  execute: (args: A) => Promise<number>,
): Promise<number> {
  if (parsed.kind === 'help') {
    (io.output ?? process.stdout).write(`${usage}\n`);
    return 0;
  }
  if (parsed.kind === 'invalid') {
    (io.errors ?? io.output ?? process.stderr).write(`${parsed.message}\n\n${usage}\n`);
    return 2;
  }
  return execute(parsed.args);
}

/** JSON for a list command's `--json`: 64-bit positions (bigint) as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** Warden's version, from package.json. */
export async function version(): Promise<string> {
  return packageJson.version;
}

/** A parsed command, ready to run on the opened service. */
export type Runner = (service: Service, logger: Logger) => Promise<number>;

/**
 * A command: its usage, and a parser that turns its arguments into something to run on the opened
 * service. One-shot commands print results (their logs: warnings only, unless LOG_LEVEL says more)
 * and close the service when done; the long-running ones close it on their stop signal.
 */
export interface Command {
  usage: string;
  oneShot: boolean;
  parse(argv: readonly string[]): ParsedArgs<Runner>;
}

/** A command of the table in main.ts: its usage, its parser and what it runs with the parsed arguments. */
export function command<A>(
  usage: string,
  oneShot: boolean,
  parse: (argv: readonly string[]) => ParsedArgs<A>,
  execute: (args: A, service: Service, logger: Logger) => Promise<number>,
): Command {
  return {
    usage,
    oneShot,
    parse: (argv) => {
      const parsed = parse(argv);
      return parsed.kind === 'run' ? run((service, logger) => execute(parsed.args, service, logger)) : parsed;
    },
  };
}

/** For the commands that take no arguments but `--help`. */
export const noArguments = (argv: readonly string[]): ParsedArgs<null> =>
  parseWith(() => {
    const { values } = parseArgs({ args: [...argv], options: HELP_OPTION });
    return values.help ? help : run(null);
  });
