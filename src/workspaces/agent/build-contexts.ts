import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { looksLikeTar } from '../tar-header.ts';
import { contextDockerfile } from './context-dockerfile.ts';
import { forbiddenInstruction } from './dockerfile-rules.ts';
import { AgentRefusal } from './problems.ts';

/** The largest build context the agent stages: the most `WARDEN_IMAGE_CONTEXT_MAX_BYTES` may allow (Warden checks its own cap first). */
export const MAX_CONTEXT_BYTES = 4 * 1024 * 1024 * 1024;
/** A staged context no build named for this long is deleted. */
export const CONTEXT_EXPIRY_MS = 60 * 60_000;
/** How often staging looks for expired contexts: a minute, against their hour. */
export const CONTEXT_SWEEP_INTERVAL_MS = 60_000;

const ID = /^[0-9a-f-]{36}$/;

/**
 * Build contexts staged on the agent's disk (`contexts/<id>.tar`, its size and SHA-256 beside it in
 * `<id>.json`): the bytes stream to the file as they arrive, hashed on the way, never held whole; a
 * build names the context by id and SHA-256 and reads it from disk into the engine.
 */
export class BuildContextStore {
  readonly #folder: string;
  readonly #clock: () => number;
  #sweptAt = Number.NEGATIVE_INFINITY;

  constructor(workDir: string, clock: () => number = Date.now) {
    this.#folder = join(workDir, 'contexts');
    this.#clock = clock;
  }

  /** The folder, made once (and again when it went: see `stage`); staging used to ask every time. */
  #folderMaking: Promise<unknown> | undefined;
  #folderMade(): Promise<unknown> {
    this.#folderMaking ??= mkdir(this.#folder, { recursive: true }).catch((error: unknown) => {
      this.#folderMaking = undefined;
      throw error;
    });
    return this.#folderMaking;
  }

  #paths(id: string) {
    if (!ID.test(id)) throw new AgentRefusal(404, 'not-found', 'no such build context');
    return { tar: join(this.#folder, `${id}.tar`), meta: join(this.#folder, `${id}.json`) };
  }

  /**
   * Streams `body` to the context's file: refused when the id is taken (409), the first block is not
   * a tar header (422) or the bytes pass `maxBytes` (413); a refused or broken stream leaves nothing.
   */
  async stage(
    id: string,
    body: ReadableStream<Uint8Array> | null,
    maxBytes = MAX_CONTEXT_BYTES,
  ): Promise<{ id: string; size: number; sha256: string }> {
    const paths = this.#paths(id);
    if (!body) throw new AgentRefusal(422, 'invalid', 'the build context is empty');
    await this.#folderMade();
    this.#sweepNowAndThen();
    const hash = createHash('sha256');
    let size = 0;
    let head = new Uint8Array(0);
    const checked = async function* (chunks: AsyncIterable<Uint8Array>) {
      for await (const chunk of chunks) {
        size += chunk.byteLength;
        if (size > maxBytes) {
          throw new AgentRefusal(413, 'too-large', `the build context is over ${maxBytes} bytes`);
        }
        if (head.length < 512) {
          const joined = new Uint8Array(head.length + chunk.byteLength);
          joined.set(head);
          joined.set(chunk, head.length);
          head = joined.subarray(0, Math.min(joined.length, 512));
          if (head.length === 512 && !looksLikeTar(head)) {
            throw new AgentRefusal(422, 'invalid', 'the build context is not a tar archive');
          }
        }
        hash.update(chunk);
        yield chunk;
      }
    };
    // Created only if absent ('wx'): a context with this id already staged (or being staged) is
    // refused before a byte of the body is read, and its file is left alone. A folder removed by hand
    // is made again.
    const create = () => open(paths.tar, 'wx');
    const file = await create()
      .catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
        this.#folderMaking = undefined;
        await this.#folderMade();
        return create();
      })
      .catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'EEXIST')
          throw new AgentRefusal(409, 'conflict', 'a build context with this id is staged');
        throw error;
      });
    try {
      await pipeline(
        Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>),
        checked,
        file.createWriteStream(),
      );
      if (head.length < 512) throw new AgentRefusal(422, 'invalid', 'the build context is not a tar archive');
    } catch (error) {
      await file.close().catch(() => undefined);
      await rm(paths.tar, { force: true });
      throw error;
    }
    const staged = { id, size, sha256: hash.digest('hex') };
    await writeFile(paths.meta, JSON.stringify({ ...staged, staged_at: new Date().toISOString() }));
    return staged;
  }

  /**
   * The staged context as a stream from disk, when its SHA-256 is the one named (else 404/409) and
   * the Dockerfile the engine will read in it (`dockerfile`) does nothing the agent's host must not
   * (else 422, and the context is deleted): see `forbiddenInstruction`.
   */
  async open(id: string, sha256: string, dockerfile: string): Promise<Readable> {
    const paths = this.#paths(id);
    let meta: { sha256: string };
    try {
      meta = JSON.parse(await readFile(paths.meta, 'utf8')) as { sha256: string };
    } catch {
      throw new AgentRefusal(404, 'not-found', 'no such build context');
    }
    if (meta.sha256 !== sha256) {
      throw new AgentRefusal(409, 'conflict', 'the build context’s SHA-256 is not the one named');
    }
    try {
      const problem = forbiddenInstruction(await contextDockerfile(paths.tar, dockerfile));
      if (problem) throw new AgentRefusal(422, 'invalid', problem);
    } catch (error) {
      await this.remove(id);
      throw error;
    }
    return createReadStream(paths.tar);
  }

  async remove(id: string): Promise<void> {
    const paths = this.#paths(id);
    await rm(paths.meta, { force: true });
    await rm(paths.tar, { force: true });
  }

  /**
   * Sweeps beside the staging, at most once every `CONTEXT_SWEEP_INTERVAL_MS`: a stage used to wait
   * for the folder's listing and a stat of every file in it (1–7 ms of each build on an idle host,
   * and growing with the contexts staged). What it deletes is an hour old, never the one being staged.
   */
  #sweepNowAndThen(): void {
    const now = this.#clock();
    if (now - this.#sweptAt < CONTEXT_SWEEP_INTERVAL_MS) return;
    this.#sweptAt = now;
    void this.sweep(now).catch(() => undefined);
  }

  /** Deletes contexts staged (or left half-written) longer than `CONTEXT_EXPIRY_MS` ago. */
  async sweep(now = Date.now()): Promise<void> {
    for (const name of await readdir(this.#folder).catch(() => [] as string[])) {
      const path = join(this.#folder, name);
      const info = await stat(path).catch(() => undefined);
      if (info && now - info.mtimeMs > CONTEXT_EXPIRY_MS) await rm(path, { force: true });
    }
  }
}
