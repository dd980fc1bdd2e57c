/** The one pacote call the firewall's differential test makes (pacote ships no types). */
declare module 'pacote' {
  /** Extracts a package (e.g. `file:/path/x.tgz`) into `dest` exactly as npm install does. */
  export function extract(spec: string, dest: string, options?: Record<string, unknown>): Promise<unknown>;
}
