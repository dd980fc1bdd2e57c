import { invalidRequest } from './errors.ts';

// The parameters of a protocol request (a form or a query), read as RFC 6749 §3.1 says.

/** A parameter sent twice is refused (RFC 6749 §3.1). */
export function refuseRepeated(params: URLSearchParams) {
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (seen.has(key)) throw invalidRequest(`the parameter ${key} is repeated`);
    seen.add(key);
  }
}

/** One parameter, trimmed of nothing; absent or empty is undefined (RFC 6749 §3.1: empty = omitted). */
export function param(params: URLSearchParams, name: string, max = 2048): string | undefined {
  const value = params.get(name);
  if (value === null || value === '') return undefined;
  if (value.length > max) throw invalidRequest(`${name} is too long`);
  return value;
}

export function required(params: URLSearchParams, name: string, max?: number): string {
  const value = param(params, name, max);
  if (value === undefined) throw invalidRequest(`${name} is required`);
  return value;
}
