import { z } from 'zod';
import { dnsLookup } from './builtin/dns-lookup.ts';
import { hashIdentify } from './builtin/hash-identify.ts';
import { httpHeaders } from './builtin/http-headers.ts';
import { jwtTool } from './builtin/jwt.ts';
import { osvLookup } from './builtin/osv-lookup.ts';
import { passwordStrengthTool } from './builtin/password-strength.ts';
import { portScan } from './builtin/port-scan.ts';
import { tlsInspect } from './builtin/tls-inspect.ts';
import { findExecutable } from './process.ts';
import type { Tool } from './protocol.ts';
import { nmap } from './wrappers/nmap.ts';
import { sslscan } from './wrappers/sslscan.ts';

/** Every tool Warden knows; a wrapper whose binary is missing is listed as unavailable. */
export const builtinTools: readonly Tool[] = [
  portScan,
  tlsInspect,
  httpHeaders,
  dnsLookup,
  jwtTool,
  hashIdentify,
  passwordStrengthTool,
  osvLookup,
  nmap,
  sslscan,
];

export interface CatalogEntry {
  tool: Tool;
  available: boolean;
  /** Why it cannot run here (the binary it wraps is not installed). */
  unavailableReason: string | null;
  /** The binary's absolute path, for wrappers that found theirs. */
  executable: string | null;
}

export interface Catalog {
  list(): readonly CatalogEntry[];
  get(id: string): CatalogEntry | undefined;
}

/** The catalog of this process: availability is looked up once, when it is built. */
export function catalog(
  tools: readonly Tool[] = builtinTools,
  find: (binary: string) => string | undefined = findExecutable,
): Catalog {
  const entries = tools.map((tool): CatalogEntry => {
    if (!tool.binary) return { tool, available: true, unavailableReason: null, executable: null };
    const executable = find(tool.binary) ?? null;
    return {
      tool,
      available: executable !== null,
      unavailableReason: executable ? null : `the ${tool.binary} binary is not installed on this machine`,
      executable,
    };
  });
  const byId = new Map(entries.map((e) => [e.tool.id, e]));
  return { list: () => entries, get: (id) => byId.get(id) };
}

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') => {
  try {
    return z.toJSONSchema(schema, { io, unrepresentable: 'any' });
  } catch {
    return {};
  }
};

/** A tool as the API shows it: the schemas as JSON Schema, its limits and whether it can run here. */
export function describeTool(entry: CatalogEntry, detailed: boolean) {
  const { tool } = entry;
  return {
    id: tool.id,
    name: tool.name,
    category: tool.category,
    description: tool.description,
    version: tool.version,
    kind: tool.binary ? ('binary' as const) : ('builtin' as const),
    intrusive: tool.intrusive,
    permission: 'tools:execute' as const,
    required_role: tool.intrusive ? 'operator' : null,
    takes_target: tool.target !== undefined,
    default_timeout_ms: tool.defaultTimeoutMs,
    max_timeout_ms: tool.maxTimeoutMs,
    output_cap_bytes: tool.outputCapBytes,
    status: entry.available ? ('available' as const) : ('unavailable' as const),
    unavailable_reason: entry.unavailableReason,
    ...(detailed
      ? {
          parameters_schema: jsonSchema(tool.parameters, 'input'),
          result_schema: jsonSchema(tool.result, 'output'),
        }
      : {}),
  };
}
