import { parseArgs } from 'node:util';
import { type KeyInfo, type KeyRing, KeyRotationTooSoonError } from '../identity/tokens/index.ts';
import { type OAuthKeys, type TenantAlgorithm, tenantAlgorithms } from '../oauth/index.ts';
import type { Service } from '../service.ts';
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

export const KEYS_USAGE = `Usage:
  warden keys list [--json]     token signing keys: kid, state, created, activated, retired, published until
  warden keys rotate [--force]  the pending key signs from now on; the active one is retired (still
                                published until the tokens it signed expire); a new pending key is published.
                                --force rotates even if the pending key was published for less than the
                                JWKS cache time (caches may then meet an unknown kid)
  warden keys list --tenant <slug> [--json]
                                the tenant issuer's OAuth keys (ID tokens, OAuth access tokens)
  warden keys rotate --tenant <slug> [--alg EdDSA|RS256|ES256]
                                a new key of that algorithm (default EdDSA) signs from now on; the old one
                                stays published and verifying until the tokens it signed have expired`;

export type KeysArgs =
  | { action: 'list'; json: boolean }
  | { action: 'rotate'; force: boolean }
  | { action: 'list-tenant'; tenant: string; json: boolean }
  | { action: 'rotate-tenant'; tenant: string; alg: TenantAlgorithm };

/** `keys list | rotate`, options in any order. */
export function parseKeysArgs(argv: readonly string[]): ParsedArgs<KeysArgs> {
  return parseWith<KeysArgs>(() => {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: {
        ...HELP_OPTION,
        tenant: { type: 'string' },
        alg: { type: 'string' },
        force: { type: 'boolean' },
        json: { type: 'boolean' },
      },
      allowPositionals: true,
    });
    if (values.help) return help;
    const [action, ...extra] = positionals;
    if (action !== 'list' && action !== 'rotate')
      return invalid(action ? `unknown keys command "${action}"` : 'name a keys command');
    if (extra.length > 0) return invalid(`unexpected argument ${extra[0]}`);
    const json = values.json ?? false;
    if (action === 'rotate' && values.json) return invalid('--json goes with list');
    if (values.tenant === undefined) {
      if (values.alg !== undefined) return invalid('--alg goes with --tenant');
      if (action === 'list')
        return values.force ? invalid('--force goes with rotate') : run({ action, json });
      return run({ action, force: values.force ?? false });
    }
    if (values.force) return invalid('--force is for the token signing keys, not a tenant issuer’s');
    if (action === 'list')
      return values.alg === undefined
        ? run({ action: 'list-tenant', tenant: values.tenant, json })
        : invalid('--alg goes with rotate');
    const alg = values.alg ?? 'EdDSA';
    if (!(tenantAlgorithms as readonly string[]).includes(alg))
      return invalid(`--alg must be one of ${tenantAlgorithms.join(', ')}`);
    return run({ action: 'rotate-tenant', tenant: values.tenant, alg: alg as TenantAlgorithm });
  });
}

export interface KeysCommandDeps extends CommandIo {
  keys: Pick<KeyRing, 'list' | 'rotate'>;
  /** Tenant issuers' keys, and how long a retired one stays published (token lifetime + JWKS cache). */
  tenantKeys?: {
    keys: Pick<OAuthKeys, 'jwks' | 'rotate'>;
    publishForSeconds: number;
    tenantId: (slug: string) => Promise<string>;
  };
}

/** `warden keys list | rotate [--force]`. Exit code 0 done, 1 refused (too soon), 2 bad usage. */
export function keysCommand(argv: readonly string[], deps: KeysCommandDeps): Promise<number> {
  return dispatch(parseKeysArgs(argv), KEYS_USAGE, deps, (args) => runKeys(args, deps));
}

/** Runs parsed `keys` arguments. */
export async function runKeys(args: KeysArgs, deps: KeysCommandDeps): Promise<number> {
  const output = deps.output ?? process.stdout;
  const print = (line: string) => output.write(`${line}\n`);
  if (args.action === 'list-tenant' || args.action === 'rotate-tenant') {
    const tenant = deps.tenantKeys;
    if (!tenant) {
      (deps.errors ?? deps.output ?? process.stderr).write('tenant issuers’ keys are not available here\n');
      return 2;
    }
    const tenantId = await tenant.tenantId(args.tenant);
    if (args.action === 'list-tenant') {
      const { keys } = await tenant.keys.jwks(tenantId);
      if (args.json) print(toJson(keys));
      else for (const key of keys) print(`${key.kid}  ${key.alg}`);
      return 0;
    }
    const { kid } = await tenant.keys.rotate(tenantId, args.alg, tenant.publishForSeconds);
    print(`activated ${kid} (${args.alg}) for tenant ${args.tenant}`);
    return 0;
  }
  if (args.action === 'list') {
    const keys = await deps.keys.list();
    print(args.json ? toJson(keys) : renderKeys(keys));
    return 0;
  }
  try {
    const result = await deps.keys.rotate({ force: args.force, actorId: 'cli' });
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

/** The `keys` command's dependencies from an open service. */
export async function keysDepsOf(service: Service): Promise<KeysCommandDeps> {
  const { config } = service;
  const identity = await service.identity();
  const { tenantIdForSlug } = await import('../commands/tenancy/index.ts');
  return {
    keys: identity.keys,
    tenantKeys: {
      keys: identity.oauthKeys,
      // Until every token it signed has expired and every cached JWKS has been read again.
      publishForSeconds:
        Math.max(config.WARDEN_OAUTH_ACCESS_TOKEN_TTL_SECONDS, config.WARDEN_OAUTH_ID_TOKEN_TTL_SECONDS) +
        config.WARDEN_JWKS_CACHE_SECONDS +
        60,
      tenantId: tenantIdForSlug,
    },
  };
}
