/**
 * The production build: Warden's sources bundled by esbuild into `dist/`, run by plain `node` with no
 * loader (`node dist/warden.mjs serve`), as `npm start` and the container image run them.
 *
 * Run through `tsx` (bin/warden.js, `npm run warden`), every process keeps each module's source with
 * an inline source map, runs tsx's loader on a thread of its own, and wraps every function it makes in
 * `__name(…)`: an idle `warden worker` holds 200–210 MB through tsx against 133 MB from the bundle.
 * Dependencies stay in node_modules, found from `dist/` as from `src/`. The files the sources find
 * beside themselves at run time are made beside the bundle:
 * - `lockfile-worker.mjs`: the lockfile thread's entry, here a bundle of its own;
 * - `spawn-helper.mjs`: the tools' spawner, plain JavaScript, copied as it is;
 * - `data-folder-heartbeat.mjs`: the data-folder lock's refresh thread, plain JavaScript, copied as it is.
 *
 *   npm run build          (tsx scripts/build.ts [outdir])
 */
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));

/**
 * Dependencies bundled rather than left external: the SPDX license list is JSON, which Node 20 before
 * 20.10 cannot import without an attribute a bundle does not keep; bundled, it is a constant.
 */
const BUNDLED = new Set(['spdx-license-ids']);

/**
 * Builds into `outdir` afresh (under the checkout, where node_modules is found from); returns the
 * entry and the number of files written.
 */
export async function buildDist(outdir = join(root, 'dist')): Promise<{ entry: string; files: number }> {
  const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { warden: 'src/main.ts', 'lockfile-worker': 'src/packages/lockfile-thread.ts' },
    outdir: relative(root, outdir),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    // Every other dependency stays external, subpaths included.
    external: Object.keys({ ...manifest.dependencies, ...manifest.devDependencies }).filter(
      (name) => !BUNDLED.has(name),
    ),
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Chunks: a command's code loads once the command is named, as in `src/main.ts`.
    splitting: true,
    // Linked maps: nothing is loaded at run time unless node runs with --enable-source-maps.
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
  });
  await copyFile(join(root, 'src/tools/spawn-helper.mjs'), join(outdir, 'spawn-helper.mjs'));
  await copyFile(join(root, 'src/db/data-folder-heartbeat.mjs'), join(outdir, 'data-folder-heartbeat.mjs'));
  return { entry: join(outdir, 'warden.mjs'), files: Object.keys(result.metafile.outputs).length + 2 };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { entry, files } = await buildDist(process.argv[2] ? resolve(process.argv[2]) : undefined);
  process.stdout.write(
    `built ${relative(process.cwd(), entry)} (${files} files): node ${relative(process.cwd(), entry)} serve\n`,
  );
}
