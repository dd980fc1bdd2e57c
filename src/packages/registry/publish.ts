import { z } from 'zod';
import { RegistryError } from './errors.ts';
import { digestsOf, integrityChecker, shasumToIntegrity } from './integrity.ts';
import { BACKFILL_TAG, publishDocument, takesLatest } from './publish-document.ts';
import { encodeName } from './upstream.ts';

export interface PublisherOptions {
  url: string;
  /** A token with publish rights (sent as a bearer token, never logged). */
  token: string;
  timeoutMs: number;
  fetch?: typeof fetch;
}

export interface PublishInput {
  name: string;
  version: string;
  /** The tarball's package.json: the version document is built from it. */
  manifest: Record<string, unknown>;
  /** The original bytes: the integrity in the user's lockfile must still match. */
  tarball: Uint8Array;
  integrity: string;
  signal?: AbortSignal;
}

export interface Publisher {
  /**
   * Publishes one version, exactly once: a target already holding these very bytes is
   * `already_present` (an earlier attempt got through before its worker died); other bytes under
   * the same version are a `conflict`.
   */
  publish(input: PublishInput): Promise<{ outcome: 'published' | 'already_present' }>;
}

/** The part of the target's packument that decides: which versions it holds, with which bytes. */
const targetPackument = z.looseObject({
  'dist-tags': z.record(z.string(), z.string()).optional(),
  versions: z
    .record(
      z.string(),
      z.looseObject({
        dist: z.looseObject({ integrity: z.string().optional(), shasum: z.string().optional() }).optional(),
      }),
    )
    .optional(),
});
type TargetPackument = z.infer<typeof targetPackument>;

/** How often a publish that collides with a concurrent one (409) is tried before giving up, for now. */
const CONCURRENT_ATTEMPTS = 4;

/**
 * A client of the secure target registry that publishes the original bytes of approved packages
 * through npm's publish protocol, crash-safe: it looks before it writes, so a re-run publishes nothing twice.
 */
export function createPublisher(options: PublisherOptions): Publisher {
  const base = options.url.endsWith('/') ? options.url : `${options.url}/`;
  const doFetch = options.fetch ?? fetch;

  async function call(path: string, init: RequestInit, signal: AbortSignal | undefined): Promise<Response> {
    const timeout = AbortSignal.timeout(options.timeoutMs);
    try {
      return await doFetch(`${base}${path}`, {
        ...init,
        headers: { accept: 'application/json', authorization: `Bearer ${options.token}`, ...init.headers },
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        redirect: 'error',
      });
    } catch (error) {
      const reason = timeout.aborted ? `no answer within ${options.timeoutMs} ms` : (error as Error).message;
      throw new RegistryError('unavailable', `the target registry is unreachable: ${reason}`);
    }
  }

  async function current(
    name: string,
    signal: AbortSignal | undefined,
  ): Promise<TargetPackument | undefined> {
    const response = await call(encodeName(name), { method: 'GET' }, signal);
    if (response.status === 404) {
      await response.body?.cancel().catch(() => undefined);
      return undefined;
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw failure(response.status, 'reading');
    }
    const parsed = targetPackument.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success)
      throw new RegistryError('unavailable', `the target's packument of ${name} is not one`);
    return parsed.data;
  }

  function failure(status: number, doing: string): RegistryError {
    if (status === 401 || status === 403) {
      return new RegistryError(
        'unauthorized',
        `the target registry refused ${doing} (${status}): check the token`,
      );
    }
    if (status === 429 || status >= 500)
      return new RegistryError('unavailable', `the target registry answered ${status} when ${doing}`);
    if (status === 413)
      return new RegistryError('too_large', `the target registry refused ${doing} as too large (413)`);
    // The target refused the document itself (400, 422, …): sending it again will not help.
    return new RegistryError('invalid_manifest', `the target registry answered ${status} when ${doing}`);
  }

  /**
   * Whether the target already holds `version` with these very bytes (`already_present`), with
   * other bytes (a `conflict`: never overwritten), or not at all (undefined).
   */
  async function present(
    packument: TargetPackument | undefined,
    version: string,
    matches: (sri: string) => Promise<boolean | undefined>,
  ): Promise<'already_present' | undefined> {
    const existing = packument?.versions?.[version];
    if (!existing) return undefined;
    const { integrity, shasum } = existing.dist ?? {};
    const sri = integrity ?? (shasum === undefined ? undefined : shasumToIntegrity(shasum));
    if (sri && (await matches(sri)) === true) return 'already_present';
    throw new RegistryError(
      'conflict',
      `the target already holds ${version} with other bytes (${sri ?? 'no integrity'})`,
    );
  }

  return {
    async publish(input) {
      const { name, version, integrity, signal, tarball } = input;
      const matches = integrityChecker(tarball);
      // The caller's integrity (the one recorded, and in users' lockfiles) must be these bytes'.
      if ((await matches(integrity)) !== true) {
        throw new RegistryError(
          'integrity_mismatch',
          `the bytes to publish for ${name}@${version} do not match ${integrity.slice(0, 20)}…`,
        );
      }
      const digests = await digestsOf(tarball);
      for (let attempt = 1; ; attempt++) {
        const before = await current(name, signal);
        if (await present(before, version, matches)) return { outcome: 'already_present' };
        const body = publishDocument({
          base,
          name,
          version,
          manifest: input.manifest,
          tarball,
          integrity: digests.integrity,
          shasum: digests.shasum,
          tag: takesLatest(version, before?.['dist-tags']?.latest) ? 'latest' : BACKFILL_TAG,
        });
        const response = await call(
          encodeName(name),
          {
            method: 'PUT',
            headers: { 'content-type': 'application/json', 'npm-command': 'publish' },
            body: JSON.stringify(body),
          },
          signal,
        );
        await response.body?.cancel().catch(() => undefined);
        if (response.ok) return { outcome: 'published' };
        const doing = `publishing ${name}@${version}`;
        // 409 (Verdaccio) or 403 (the public registry) may mean the version is there already: its bytes decide.
        if (response.status !== 409 && response.status !== 403) throw failure(response.status, doing);
        if (await present(await current(name, signal), version, matches))
          return { outcome: 'already_present' };
        if (response.status === 403) throw failure(403, doing);
        // 409 and not there: another publish of this package is under way (a new package being
        // created, a concurrent version). Once it is through, ours merges.
        if (attempt === CONCURRENT_ATTEMPTS)
          throw new RegistryError('unavailable', `the target kept answering 409 when ${doing}`);
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    },
  };
}
