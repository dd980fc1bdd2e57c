import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { UploadFileName, WorkspaceFilePath } from '../../commands/workspaces/index.ts';
import { workspaceDataFolder } from './data-folders.ts';
import { checkFileName, type HeldFolder, holdFolderInside, InsideRefusal } from './inside-folder.ts';
import { AgentRefusal } from './problems.ts';

export interface StoredUpload {
  id: string;
  size: number;
  sha256: string;
  file_name: string;
  /** The workspace whose data folder receives the file (at `path` in it) instead of the store. */
  workspace?: string | undefined;
  path?: string | undefined;
}

export interface UploadProgress extends StoredUpload {
  offset: number;
  /** When the last byte arrived (or the upload was opened): what the expiry of an idle upload counts from. */
  updated_at: string;
}

const pathRefusal = (message: string) => new AgentRefusal(422, 'validation', `path: ${message}`);

/**
 * Runs `use` on the folder of `path` inside the workspace's data folder, held open so that the
 * container (which can rearrange the folder at will) cannot swap a folder on the way for a link to
 * anywhere else on this host between the check and the write (see `inside-folder.ts`). Every folder on
 * the way must be a real folder and the file itself not a link or a folder. With `create`, missing
 * folders are made; without, a missing folder ends the check (nothing below it exists yet) and `use`
 * is not called. Answers where the file is, for the record.
 */
async function inWorkspace(
  folder: string,
  path: string,
  create: boolean,
  use: (held: HeldFolder, name: string) => Promise<void> = async () => {},
): Promise<string> {
  const parsed = WorkspaceFilePath.safeParse(path);
  if (!parsed.success) throw pathRefusal(parsed.error.issues[0]?.message ?? 'not valid');
  const segments = parsed.data.split('/');
  const name = segments.pop() as string;
  let held: HeldFolder | undefined;
  try {
    held = await holdFolderInside(folder, segments, create);
  } catch (error) {
    if (error instanceof InsideRefusal) throw pathRefusal(error.message);
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new AgentRefusal(409, 'no-data-folder', 'the workspace has no data folder on this agent');
    }
    throw error;
  }
  if (held) {
    try {
      await checkFileName(held, name);
      await use(held, name);
    } catch (error) {
      throw error instanceof InsideRefusal ? pathRefusal(error.message) : error;
    } finally {
      await held.close();
    }
  }
  return join(folder, ...segments, name);
}

const ID = /^[0-9a-f-]{36}$/;
const WRITE_BATCH = 1024 * 1024;

/**
 * The agent's store of uploaded files (guest OS images, datasets), under its work folder:
 * `uploads/<id>.part` (+ `.json`) while bytes arrive, `store/<id>/<file name>` once every byte is
 * there and their SHA-256 is the declared one. Appends go to the end of the partial file as they
 * stream in, so an interrupted request keeps what arrived and the upload resumes from there.
 */
export class UploadStore {
  readonly #workDir: string;
  readonly #partial: string;
  readonly #finished: string;
  /** Uploads an append is writing to now: a second append to one is refused, not interleaved. */
  readonly #busy = new Set<string>();
  /** The SHA-256 of each partial file so far, while appends arrive in order (else hashed at the end). */
  readonly #hashes = new Map<string, { hash: Hash; offset: number }>();

  constructor(workDir: string) {
    this.#workDir = workDir;
    this.#partial = join(workDir, 'uploads');
    this.#finished = join(workDir, 'store');
  }

  #paths(id: string) {
    if (!ID.test(id)) throw new AgentRefusal(404, 'not-found', 'no such upload');
    return { part: join(this.#partial, `${id}.part`), meta: join(this.#partial, `${id}.json`) };
  }

  /** Where a finished upload's file lives; a name that would leave its folder is refused. */
  #target(id: string, fileName: string) {
    const name = UploadFileName.safeParse(fileName);
    if (!name.success)
      throw new AgentRefusal(400, 'validation', `file_name: ${name.error.issues[0]?.message}`);
    const folder = resolve(this.#finished, id);
    const path = resolve(folder, name.data);
    if (!path.startsWith(folder + sep))
      throw new AgentRefusal(400, 'validation', 'file_name: leaves the store');
    return { folder, path };
  }

  async #meta(id: string): Promise<StoredUpload | undefined> {
    try {
      return JSON.parse(await readFile(this.#paths(id).meta, 'utf8')) as StoredUpload;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** The data folder of the upload's workspace (refused when it names none, or only one of the two). */
  #dataFolder(upload: StoredUpload): string | undefined {
    if (upload.workspace === undefined && upload.path === undefined) return undefined;
    const folder = workspaceDataFolder(this.#workDir, upload.workspace ?? '');
    if (!folder || upload.path === undefined) {
      throw new AgentRefusal(400, 'validation', 'workspace: and path: go together');
    }
    return folder;
  }

  /** Opens an upload (again: the same declaration is answered with its progress). */
  async create(upload: StoredUpload): Promise<UploadProgress> {
    this.#target(upload.id, upload.file_name);
    const folder = this.#dataFolder(upload);
    if (folder) await inWorkspace(folder, upload.path as string, false);
    const paths = this.#paths(upload.id);
    const known = await this.#meta(upload.id);
    if (known) {
      if (
        known.size !== upload.size ||
        known.sha256 !== upload.sha256 ||
        known.file_name !== upload.file_name ||
        known.workspace !== upload.workspace ||
        known.path !== upload.path
      ) {
        throw new AgentRefusal(409, 'conflict', `upload ${upload.id} exists with another declaration`);
      }
      return (await this.progress(upload.id)) as UploadProgress;
    }
    await mkdir(this.#partial, { recursive: true });
    await writeFile(paths.part, new Uint8Array(), { flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    await writeFile(paths.meta, JSON.stringify(upload));
    return (await this.progress(upload.id)) as UploadProgress;
  }

  /** The upload and how many bytes have arrived, or undefined when there is no such partial upload. */
  async progress(id: string): Promise<UploadProgress | undefined> {
    const meta = await this.#meta(id);
    if (!meta) return undefined;
    const { size, mtime } = await stat(this.#paths(id).part);
    return { ...meta, offset: size, updated_at: mtime.toISOString() };
  }

  /**
   * Appends `body` at `offset` (which must be the bytes already there: 409 otherwise) and answers the
   * new offset. Bytes beyond the declared size are refused (413) and not kept. When the body breaks
   * off, what arrived is kept. With `idleMs`, an upload whose last bytes arrived longer ago is expired
   * (410).
   */
  async append(
    id: string,
    offset: number,
    body: ReadableStream<Uint8Array> | null,
    idleMs?: number,
  ): Promise<number> {
    const paths = this.#paths(id);
    if (this.#busy.has(id)) throw new AgentRefusal(423, 'locked', 'another append to this upload is running');
    this.#busy.add(id);
    try {
      const current = await this.progress(id);
      if (!current) throw new AgentRefusal(404, 'not-found', 'no such upload');
      // Before the offset, as the tus protocol orders them: an expired upload is gone wherever it is.
      if (idleMs !== undefined && Date.now() - Date.parse(current.updated_at) > idleMs) {
        throw new AgentRefusal(410, 'expired', `nothing arrived for over ${idleMs} ms: the upload expired`);
      }
      if (current.offset !== offset) {
        throw new AgentRefusal(409, 'offset-mismatch', `the upload is at ${current.offset}, not ${offset}`);
      }
      let running = this.#hashes.get(id);
      if (offset === 0) running = { hash: createHash('sha256'), offset: 0 };
      if (running?.offset !== offset) running = undefined;
      this.#hashes.delete(id);
      const file = await open(paths.part, 'r+');
      let position = offset;
      let complete = false;
      // Chunks are gathered up to WRITE_BATCH bytes per write (fewer system calls); what is gathered
      // is written also when the body breaks off, so every byte that arrived is kept.
      let pending: Uint8Array[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        if (pendingBytes === 0) return;
        const batch = pending.length === 1 ? (pending[0] as Uint8Array) : Buffer.concat(pending);
        pending = [];
        pendingBytes = 0;
        await file.write(batch, 0, batch.byteLength, position);
        position += batch.byteLength;
      };
      try {
        if (body) {
          const reader = body.getReader();
          for (let read = await reader.read(); !read.done; read = await reader.read()) {
            const chunk = read.value;
            if (position + pendingBytes + chunk.byteLength > current.size) {
              throw new AgentRefusal(
                413,
                'too-many-bytes',
                `the upload declared ${current.size} bytes and more were sent`,
              );
            }
            running?.hash.update(chunk);
            pending.push(chunk);
            pendingBytes += chunk.byteLength;
            if (pendingBytes >= WRITE_BATCH) await flush();
          }
        }
        complete = true;
      } finally {
        await flush().finally(() => file.close());
        if (complete && running) this.#hashes.set(id, { hash: running.hash, offset: position });
      }
      return position;
    } finally {
      this.#busy.delete(id);
    }
  }

  /**
   * Checks that every declared byte arrived and that their SHA-256 is the declared one, then moves the
   * file into the store. A mismatch deletes the upload (422). Finishing twice answers the same.
   */
  async complete(id: string): Promise<{ path: string; size: number; sha256: string }> {
    const current = await this.progress(id);
    if (!current) {
      const done = await this.#finishedMeta(id);
      if (done) return done;
      throw new AgentRefusal(404, 'not-found', 'no such upload');
    }
    if (current.offset !== current.size) {
      throw new AgentRefusal(409, 'incomplete', `${current.offset} of ${current.size} bytes have arrived`);
    }
    const paths = this.#paths(id);
    const running = this.#hashes.get(id);
    this.#hashes.delete(id);
    const digest =
      running && running.offset === current.size ? running.hash.digest('hex') : await hashFile(paths.part);
    if (digest !== current.sha256) {
      await this.remove(id);
      throw new AgentRefusal(
        422,
        'checksum-mismatch',
        `the bytes' SHA-256 is ${digest}, the upload declared ${current.sha256}: the upload is deleted`,
      );
    }
    const target = this.#target(id, current.file_name);
    const { offset: _, updated_at: __, ...declared } = current;
    const folder = this.#dataFolder(current);
    let path = target.path;
    if (folder) {
      // Into the workspace: the verified file is renamed into the folder held open (atomic: the
      // partial file and the data folder are both under the work folder), so the workspace never
      // sees half a file, and the file cannot be steered out of the folder by a link swapped in.
      try {
        path = await inWorkspace(folder, current.path as string, true, (held, name) =>
          rename(paths.part, held.at(name)),
        );
      } catch (error) {
        if (error instanceof AgentRefusal) await this.remove(id);
        throw error;
      }
      await mkdir(target.folder, { recursive: true });
    } else {
      await mkdir(target.folder, { recursive: true });
      await rename(paths.part, path);
    }
    await writeFile(join(target.folder, '.upload.json'), JSON.stringify({ ...declared, stored_at: path }));
    await rm(paths.meta, { force: true });
    return { path, size: current.size, sha256: digest };
  }

  async #finishedMeta(id: string) {
    try {
      const meta = JSON.parse(
        await readFile(join(resolve(this.#finished, id), '.upload.json'), 'utf8'),
      ) as StoredUpload & { stored_at?: string };
      const path = meta.stored_at ?? this.#target(id, meta.file_name).path;
      return { path, size: meta.size, sha256: meta.sha256 };
    } catch {
      return undefined;
    }
  }

  /** Deletes the upload, partial or finished. */
  async remove(id: string): Promise<void> {
    const paths = this.#paths(id);
    this.#hashes.delete(id);
    await Promise.all([
      rm(paths.part, { force: true }),
      rm(paths.meta, { force: true }),
      rm(resolve(this.#finished, id), { recursive: true, force: true }),
    ]);
  }
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
