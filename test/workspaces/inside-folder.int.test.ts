import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkFileName, holdFolderInside, InsideRefusal } from '../../src/workspaces/agent/inside-folder.ts';

/*
 * A workspace's container can rearrange its data folder while the agent writes into it. These run on
 * the real file system: the swap a container would make between the agent's check and its write is
 * made here at exactly that point.
 */

let base: string;
let root: string;
let outside: string;
let incoming: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'warden-inside-'));
  root = join(base, 'data');
  outside = join(base, 'outside');
  incoming = join(base, 'incoming');
  for (const folder of [root, join(root, 'a', 'b'), join(outside, 'b'), incoming]) {
    mkdirSync(folder, { recursive: true });
  }
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

/** A file ready to be renamed in, as a finished upload's partial file is. */
function arriving(name: string, text: string): string {
  const path = join(incoming, name);
  writeFileSync(path, text);
  return path;
}

/** What the container does: the checked folder moved away, a link to elsewhere in its place. */
function swapForLink() {
  renameSync(join(root, 'a'), join(root, 'a-moved'));
  symlinkSync(outside, join(root, 'a'));
}

describe('a folder held inside a tree someone else rearranges', () => {
  it('puts a file into the folder it checked even when a link is swapped in before the write', async () => {
    const held = await holdFolderInside(root, ['a', 'b'], false);
    expect(held).toBeDefined();
    swapForLink();
    try {
      await checkFileName(held!, 'x.bin');
      await rename(arriving('held', 'through the held folder'), held!.at('x.bin'));
    } finally {
      await held!.close();
    }
    expect(readFileSync(join(root, 'a-moved', 'b', 'x.bin'), 'utf8')).toBe('through the held folder');
    expect(readdirSync(join(outside, 'b'))).toEqual([]);

    // The same write by path, after the same check, is what the link steers out of the tree.
    await rename(arriving('by-path', 'by path'), join(root, 'a', 'b', 'y.bin'));
    expect(readFileSync(join(outside, 'b', 'y.bin'), 'utf8')).toBe('by path');
  });

  it('refuses a link or a file on the way, and a link or a folder as the file', async () => {
    symlinkSync(outside, join(root, 'link'));
    writeFileSync(join(root, 'file'), '');
    symlinkSync(join(outside, 'f'), join(root, 'a', 'b', 'link.bin'));
    mkdirSync(join(root, 'a', 'b', 'folder.bin'));

    await expect(holdFolderInside(root, ['link', 'x'], true)).rejects.toThrow(
      new InsideRefusal('"link" is a symbolic link in the workspace'),
    );
    await expect(holdFolderInside(root, ['a', 'file'], false)).resolves.toBeUndefined();
    await expect(holdFolderInside(root, ['file'], true)).rejects.toThrow(
      new InsideRefusal('"file" is not a folder in the workspace'),
    );
    const held = (await holdFolderInside(root, ['a', 'b'], false))!;
    try {
      await expect(checkFileName(held, 'link.bin')).rejects.toThrow(/"link.bin" is a symbolic link/);
      await expect(checkFileName(held, 'folder.bin')).rejects.toThrow(/"folder.bin" is a folder/);
      await expect(checkFileName(held, 'new.bin')).resolves.toBeUndefined();
    } finally {
      await held.close();
    }
    expect(readdirSync(outside)).toEqual(['b']);
  });

  it('makes missing folders only when asked to, and answers nothing for a missing one otherwise', async () => {
    await expect(holdFolderInside(root, ['new', 'deeper'], false)).resolves.toBeUndefined();
    expect(existsSync(join(root, 'new'))).toBe(false);
    const held = (await holdFolderInside(root, ['new', 'deeper'], true))!;
    try {
      await rename(arriving('made', 'made'), held.at('z.bin'));
    } finally {
      await held.close();
    }
    expect(readFileSync(join(root, 'new', 'deeper', 'z.bin'), 'utf8')).toBe('made');
  });

  it('does not open a missing tree', async () => {
    await expect(holdFolderInside(join(base, 'missing'), ['a'], true)).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});
