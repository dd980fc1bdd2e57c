// The SPDX packages ship no types; these are the shapes Warden uses.
declare module 'spdx-expression-parse' {
  export type SpdxLeaf = { license: string; plus?: true; exception?: string };
  export type SpdxNode = SpdxLeaf | { left: SpdxNode; conjunction: 'and' | 'or'; right: SpdxNode };
  export default function parse(expression: string): SpdxNode;
}
declare module 'spdx-correct' {
  export default function correct(identifier: string, options?: { upgrade?: boolean }): string | null;
}
declare module 'spdx-license-ids/index.json' {
  const ids: string[];
  export default ids;
}
declare module 'spdx-license-ids/deprecated.json' {
  const ids: string[];
  export default ids;
}
