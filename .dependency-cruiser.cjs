// @ts-check
// Architecture rules, checked by `depcruise src --config .dependency-cruiser.cjs --output-type err`.
// Paths are relative to the repo root, with '/' separators. npm packages resolve to
// node_modules/<name>/...; if one can't be resolved it shows up as its bare name, so the
// package patterns below match both forms.

/** Layers whose second-level folders are contexts: src/<layer>/<ctx>/ */
const LAYERS = 'commands|projections|processes|http';
/** First-level folders that are NOT contexts (anyone may import their files). */
const NOT_CONTEXTS = 'db|eventstore|runtime|metrics|cli|crypto|types';
/**
 * A context folder: src/<layer>/<ctx> (incl. commands/kernel, projections/engine,
 * processes/runtime, http/kit, http/middleware) or a first-level protocol folder
 * src/<ctx> (identity, oauth, packages, audit, privacy, tools, workspaces, tenancy,
 * tracker, and any new first-level folder that isn't in LAYERS or NOT_CONTEXTS).
 * Capture group 1 = the context folder.
 */
const CONTEXT = `^(src/(?:${LAYERS})/[^/]+|src/(?!(?:${LAYERS}|${NOT_CONTEXTS})/)[^/]+)/`;
/** Any index.ts, at any depth inside a context folder, is its public entry. */
const INDEX = '/index\\.ts$';

const pkg = (names) => `(^|/node_modules/|^node_modules/)(${names.join('|')})(/|$)`;
const ADAPTER_PACKAGES = pkg([
  'pg',
  '@types/pg',
  '@electric-sql/pglite',
  '@node-rs/argon2',
  '@kurrent/kurrentdb-client',
  'dockerode',
  '@types/dockerode',
]);
const ADAPTER_FILES = '^src/eventstore/(postgres|kurrentdb|eventstoredb)/|^src/db/pglite-dialect\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles are not allowed anywhere in src/ (type-only imports count too).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'http-only-from-entrypoints',
      severity: 'error',
      comment: 'Only src/main.ts and src/service.ts (and src/http itself) may import src/http/.',
      from: { path: '^src/', pathNot: '^src/http/|^src/main\\.ts$|^src/service\\.ts$' },
      to: { path: '^src/http/' },
    },
    {
      name: 'commands-are-pure',
      severity: 'error',
      comment:
        'src/commands/ may import only src/commands/, zod and @noble/hashes (no node: builtins, no other npm packages, no other src folders).',
      from: { path: '^src/commands/' },
      to: { pathNot: `^src/commands/|${pkg(['zod', '@noble/hashes'])}` },
    },
    {
      name: 'context-internals-from-another-context',
      severity: 'error',
      comment:
        'A context reaches another context only through an index.ts; files of the same context import each other freely.',
      from: { path: CONTEXT },
      to: { path: CONTEXT, pathNot: [INDEX, '^$1/'] },
    },
    {
      name: 'context-internals-from-outside',
      severity: 'error',
      comment:
        'Files outside any context (src/main.ts, src/db/..., src/http/app.ts, ...) reach a context only through an index.ts.',
      from: { path: '^src/', pathNot: CONTEXT },
      to: { path: CONTEXT, pathNot: INDEX },
    },
    {
      name: 'core-never-imports-adapters',
      severity: 'error',
      comment:
        'src/commands, src/projections, src/processes and src/eventstore/port.ts must not import an adapter (eventstore backends, pglite dialect, driver packages).',
      from: { path: '^src/(commands|projections|processes)/|^src/eventstore/port\\.ts$' },
      to: { path: `${ADAPTER_FILES}|${ADAPTER_PACKAGES}` },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'Safety net: an import depcruise cannot resolve would silently slip past every rule above.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // ESM + package.json "exports" (e.g. '@noble/hashes/sha2.js').
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      mainFields: ['module', 'main'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json', '.d.ts'],
    },
    skipAnalysisNotInRules: true,
  },
};
