import { type KeyInfo, type KeyRing, KeyRotationTooSoonError } from '../identity/tokens/index.ts';

const USAGE = `Usage:
  warden keys list              token signing keys: kid, state, created, activated, retired, published until
  warden keys rotate [--force]  the pending key signs from now on; the active one is retired (still
                                published until the tokens it signed expire); a new pending key is published.
                                --force rotates even if the pending key was published for less than the
                                JWKS cache time (caches may then meet an unknown kid)`;

export interface KeysCommandDeps {
  keys: Pick<KeyRing, 'list' | 'rotate'>;
  output?: NodeJS.WritableStream;
}

/** `warden keys list | rotate [--force]`. Exit code 0 done, 1 refused (too soon), 2 bad usage. */
export async function keysCommand(argv: string[], deps: KeysCommandDeps): Promise<number> {
  const output = deps.output ?? process.stdout;
  const print = (line: string) => output.write(`${line}\n`);
  const [command, ...rest] = argv;
  if (command === 'list' && rest.length === 0) {
    print(renderKeys(await deps.keys.list()));
    return 0;
  }
  if (command === 'rotate' && (rest.length === 0 || (rest.length === 1 && rest[0] === '--force'))) {
    try {
      const result = await deps.keys.rotate({ force: rest[0] === '--force', actorId: 'cli' });
      print(`activated ${result.activated}`);
      print(`retired   ${result.retired ?? '(none)'}`);
      print(`pending   ${result.pending}`);
      return 0;
    } catch (error) {
      if (!(error instanceof KeyRotationTooSoonError)) throw error;
      print(error.message);
      return 1;
    }
  }
  print(USAGE);
  return 2;
}

const when = (date: Date | null) => (date ? date.toISOString() : '-');

function renderKeys(keys: KeyInfo[]): string {
  const rows = [
    ['KID', 'STATE', 'CREATED', 'ACTIVATED', 'RETIRED', 'PUBLISHED UNTIL'],
    ...keys.map((k) => [
      k.kid,
      k.state,
      when(k.createdAt),
      when(k.activatedAt),
      when(k.retiredAt),
      when(k.publishedUntil),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
