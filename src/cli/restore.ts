import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { DataFolderInUseError } from '../db/data-folder-lock.ts';
import { RestoreError, restoreBackup } from '../db/restore.ts';
import { KEY_ENCRYPTION_KEY_FILE } from '../identity/index.ts';
import { HELP_OPTION, help, invalid, type ParsedArgs, parseWith, run } from './command.ts';

export const RESTORE_USAGE = `Usage: warden restore <backup.tar.gz>
  Restores a backup taken with GET /v1/admin/backup into WARDEN_DATA_DIR (embedded PGlite), which
  must be empty or absent; nothing runs on that folder meanwhile. Checks the database it made holds
  the backup's events, and says what it restored.`;

export function parseRestoreArgs(argv: readonly string[]): ParsedArgs<{ file: string }> {
  return parseWith(() => {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: HELP_OPTION,
      allowPositionals: true,
    });
    if (values.help) return help;
    if (positionals.length === 0) return invalid('name the backup file to restore');
    if (positionals.length > 1) return invalid(`unexpected argument ${positionals[1]}`);
    return run({ file: positionals[0]! });
  });
}

export interface RestoreIo {
  dataDir: string;
  /** Whether WARDEN_KEY_ENCRYPTION_KEY is set (then the folder needs no key file of its own). */
  keyConfigured: boolean;
  /** DATABASE_URL is set: Warden's data is on a server, not in the folder. */
  onServer: boolean;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Where the progress bar goes (none when absent or not a terminal). */
  progress?: (NodeJS.WritableStream & { isTTY?: boolean }) | undefined;
}

/** `warden restore <file>`: 0 restored, 1 refused or failed (the folder is left empty), 2 bad usage. */
export async function runRestore(args: { file: string }, io: RestoreIo): Promise<number> {
  if (io.onServer) {
    io.err(
      'warden restore writes an embedded PGlite folder; DATABASE_URL names a server, which restores with its own tools',
    );
    return 1;
  }
  let size: number;
  try {
    size = (await stat(args.file)).size;
  } catch (error) {
    io.err(`cannot read ${args.file}: ${(error as Error).message}`);
    return 1;
  }
  const bar =
    io.progress?.isTTY === true
      ? new cliProgress.SingleBar(
          {
            stream: io.progress,
            format: 'restoring [{bar}] {percentage}% {value}/{total} bytes read',
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  bar?.start(size, 0);
  let read = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      read += chunk.length;
      bar?.update(read);
      done(null, chunk);
    },
  });
  try {
    const result = await restoreBackup(createReadStream(args.file).pipe(counted), io.dataDir);
    bar?.stop();
    const m = result.manifest;
    io.out(
      `restored ${m.events} events (up to position ${m.position}) into ${io.dataDir}: ${result.files} files, ` +
        `${result.bytes} bytes; taken ${m.takenAt} by Warden ${m.wardenVersion}, last migration ${m.migration ?? 'none'}`,
    );
    if (
      m.generatedKeyLeftOut &&
      !io.keyConfigured &&
      !existsSync(join(io.dataDir, KEY_ENCRYPTION_KEY_FILE))
    ) {
      io.err(
        `warning: this backup's signing keys and personal data are sealed with the key-encryption key that was generated into its folder, which backups leave out. Copy ${KEY_ENCRYPTION_KEY_FILE} from that folder into ${io.dataDir} (or set WARDEN_KEY_ENCRYPTION_KEY to it) before starting Warden: without it they do not open.`,
      );
    }
    return 0;
  } catch (error) {
    bar?.stop();
    if (error instanceof RestoreError || error instanceof DataFolderInUseError) {
      io.err(`restore refused: ${error.message}`);
      return 1;
    }
    throw error;
  }
}
