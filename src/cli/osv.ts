import { stat } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import type { EventStore } from '../eventstore/port.ts';
import type { AdvisoryTables } from '../packages/advisories.ts';
import { importOsv } from '../packages/osv-import.ts';

const USAGE = `Usage:
  warden osv import <path>   import OSV advisories (a folder of OSV JSON, or a .zip of them); packages
                             already approved or published that a new advisory affects are flagged`;

export interface OsvCommandDeps {
  db: Kysely<AdvisoryTables>;
  store: EventStore;
  output?: NodeJS.WritableStream;
}

/** `warden osv import <path>`. Exit code 0 imported, 1 the path cannot be read, 2 bad usage. */
export async function osvCommand(argv: string[], deps: OsvCommandDeps): Promise<number> {
  const output = deps.output ?? process.stdout;
  const print = (line: string) => output.write(`${line}\n`);
  const [command, path, ...rest] = argv;
  if (command !== 'import' || !path || rest.length > 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  try {
    await stat(path);
  } catch {
    process.stderr.write(`cannot read ${path}\n`);
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
