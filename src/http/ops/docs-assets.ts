import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { DocsAssetLoader } from './docs.ts';

/** The docs UI files from the installed `swagger-ui-dist` package (Node and Deno both resolve it). */
export const swaggerUiAssets: DocsAssetLoader = async (file) => {
  const folder = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  try {
    return new Uint8Array(await readFile(join(folder, file)));
  } catch {
    return undefined;
  }
};
