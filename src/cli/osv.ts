import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Kysely } from 'kysely';
import type { EventStore } from '../eventstore/port.ts';
import type { AdvisoryTables } from '../packages/index.ts';
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
  warden osv import <path>   import OSV advisories (a folder of OSV JSON, or a .zip of them); packages
                             already approved or published that a new advisory affects are flagged`;

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
}

/** `warden osv import <path>`. Exit code 0 imported, 1 the path cannot be read, 2 bad usage. */
export function osvCommand(argv: readonly string[], deps: OsvCommandDeps): Promise<number> {
  return dispatch(parseOsvArgs(argv), OSV_USAGE, { errors: process.stderr, ...deps }, (args) =>
    runOsv(args, deps),
  );
}

/** Runs parsed `osv` arguments. */
export async function runOsv({ path }: OsvArgs, deps: OsvCommandDeps): Promise<number> {
  const output = deps.output ?? process.stdout;
  const print = (line: string) => output.write(`${line}\n`);
  try {
    await stat(path);
  } catch {
    (deps.errors ?? process.stderr).write(`cannot read ${path}\n`);
    return 1;
  }
  const result = await importOsv({ db: deps.db, store: deps.store, path });
  print(
    `advisories  ${result.total} npm records read, ${result.changed} new or changed, ${result.withdrawn} withdrawn`,
  );
  print(`import      ${result.recorded ? result.importId : '(nothing changed: no new import recorded)'}`);
  for (const error of result.errors.slice(0, 20)) print(`skipped     ${error.file}: ${error.error}`);
  if (result.errors.length > 20) print(`skipped     … and ${result.errors.length - 20} more`);
  return 0;
}
