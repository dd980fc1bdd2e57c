import { type KeyInfo, type KeyRing, KeyRotationTooSoonError } from '../identity/tokens/index.ts';
import { type OAuthKeys, type TenantAlgorithm, tenantAlgorithms } from '../oauth/keys.ts';

const USAGE = `Usage:
  warden keys list              token signing keys: kid, state, created, activated, retired, published until
  warden keys rotate [--force]  the pending key signs from now on; the active one is retired (still
                                published until the tokens it signed expire); a new pending key is published.
                                --force rotates even if the pending key was published for less than the
                                JWKS cache time (caches may then meet an unknown kid)
  warden keys list --tenant <slug>
                                the tenant issuer's OAuth keys (ID tokens, OAuth access tokens)
  warden keys rotate --tenant <slug> [--alg EdDSA|RS256|ES256]
                                a new key of that algorithm (default EdDSA) signs from now on; the old one
                                stays published and verifying until the tokens it signed have expired`;

export interface KeysCommandDeps {
  keys: Pick<KeyRing, 'list' | 'rotate'>;
  /** Tenant issuers' keys, and how long a retired one stays published (token lifetime + JWKS cache). */
  tenantKeys?: {
    keys: Pick<OAuthKeys, 'jwks' | 'rotate'>;
    publishForSeconds: number;
    tenantId: (slug: string) => Promise<string>;
  };
  output?: NodeJS.WritableStream;
}

/** `warden keys list | rotate [--force]`. Exit code 0 done, 1 refused (too soon), 2 bad usage. */
export async function keysCommand(argv: string[], deps: KeysCommandDeps): Promise<number> {
  const output = deps.output ?? process.stdout;
  const print = (line: string) => output.write(`${line}\n`);
  const [command, ...rest] = argv;
  if (rest[0] === '--tenant' && rest[1] && deps.tenantKeys) {
    const tenant = deps.tenantKeys;
    const tenantId = await tenant.tenantId(rest[1]);
    if (command === 'list' && rest.length === 2) {
      for (const key of (await tenant.keys.jwks(tenantId)).keys) print(`${key.kid}  ${key.alg}`);
      return 0;
    }
    const alg = rest[2] === '--alg' ? rest[3] : rest.length === 2 ? 'EdDSA' : undefined;
    if (
      command === 'rotate' &&
      alg &&
      (tenantAlgorithms as readonly string[]).includes(alg) &&
      rest.length <= 4
    ) {
      const { kid } = await tenant.keys.rotate(tenantId, alg as TenantAlgorithm, tenant.publishForSeconds);
      print(`activated ${kid} (${alg}) for tenant ${rest[1]}`);
      return 0;
    }
  }
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
