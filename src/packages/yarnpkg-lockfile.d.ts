declare module '@yarnpkg/lockfile' {
  /** Yarn v1's own lockfile reader: `merge` when it resolved conflict markers, `conflict` when it could not. */
  export function parse(
    text: string,
    fileLoc?: string,
  ): { type: 'success' | 'merge' | 'conflict'; object: Record<string, Record<string, unknown>> };
  const lockfile: { parse: typeof parse };
  export default lockfile;
}
