import { constants } from 'node:fs';
import { type FileHandle, lstat, mkdir, open } from 'node:fs/promises';

/*
 * A folder inside a tree that someone else may change while we look: a workspace's data folder,
 * which its container can rearrange at will (a folder renamed away and a symbolic link put in its
 * place). Checking each folder by path and then writing by path leaves a window between the two
 * in which the path can be made to lead anywhere on this host. So the folders are opened one at a
 * time, each below the one before through its open descriptor (`/proc/self/fd/<n>/<name>`, which
 * resolves to the folder the descriptor holds, whatever its path has become since), never following
 * a link; whatever then goes in through the last descriptor lands in the folder that was checked.
 * Linux only, as the agent (a Docker host) is.
 */

/** Why a path inside the tree is refused. */
export class InsideRefusal extends Error {}

/** A folder held open: names below it resolve in it, not through the path it was opened by. */
export interface HeldFolder {
  /** A path for `name` in the held folder, for the next call (`rename`, `lstat`, `open`). */
  at(name: string): string;
  close(): Promise<void>;
}

const FOLDER = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

const held = (handle: FileHandle): HeldFolder => ({
  at: (name) => `/proc/self/fd/${handle.fd}/${name}`,
  close: () => handle.close(),
});

/** Opens the folder at `path` (`name` in its parent), never through a link; undefined when missing. */
async function openFolder(path: string, name: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, FOLDER);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    // A link answers ELOOP, or ENOTDIR (O_DIRECTORY is checked first on some kernels): ask which.
    if (code === 'ELOOP' || code === 'ENOTDIR') {
      const found = await lstat(path).catch(() => undefined);
      if (found?.isSymbolicLink()) throw new InsideRefusal(`"${name}" is a symbolic link in the workspace`);
      throw new InsideRefusal(`"${name}" is not a folder in the workspace`);
    }
    throw error;
  }
}

/**
 * Holds the folder `segments` name below `root` (itself trusted: a path the agent made), refusing a
 * link or a file on the way. With `create`, missing folders are made on the way; without, a missing
 * folder answers undefined (nothing below it exists yet).
 */
export async function holdFolderInside(
  root: string,
  segments: readonly string[],
  create: boolean,
): Promise<HeldFolder | undefined> {
  let current = await open(root, FOLDER);
  try {
    for (const segment of segments) {
      const path = held(current).at(segment);
      let next = await openFolder(path, segment);
      if (!next && create) {
        await mkdir(path).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST') throw error;
        });
        next = await openFolder(path, segment);
      }
      if (!next) {
        await current.close();
        return undefined;
      }
      await current.close();
      current = next;
    }
  } catch (error) {
    await current.close().catch(() => {});
    throw error;
  }
  return held(current);
}

/** Refuses `name` in the held folder when it is a link or a folder (a file, or nothing, is fine). */
export async function checkFileName(folder: HeldFolder, name: string): Promise<void> {
  const existing = await lstat(folder.at(name)).catch(() => undefined);
  if (existing?.isSymbolicLink()) throw new InsideRefusal(`"${name}" is a symbolic link in the workspace`);
  if (existing?.isDirectory()) throw new InsideRefusal(`"${name}" is a folder in the workspace`);
}
