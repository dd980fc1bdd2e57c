import type { Context } from 'hono';
import type { ZodError } from 'zod';
import type { FieldError } from '../../commands/kernel/index.ts';
import type { AppEnv } from './env.ts';
import { problemResponse } from './problem.ts';

export function zodFieldErrors(error: ZodError, prefix = ''): FieldError[] {
  return error.issues.flatMap((issue) => {
    const base = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    // Unknown keys are reported on the key itself, so the client sees which field would be lost.
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: base ? `${base}.${key}` : key, message: 'unknown field' }));
    }
    return [{ path: base || '(body)', message: issue.message }];
  });
}

const WHERE: Record<string, string> = { json: '', query: 'query', param: 'path', header: 'header' };

/** The zod-openapi validation hook: a failed validation is a 400 problem naming each field. */
export function validationHook(
  result: { success: true } | { success: false; error: ZodError; target?: string },
  c: Context<AppEnv>,
): Response | undefined {
  if (result.success) return undefined;
  const target = 'target' in result && result.target ? result.target : 'json';
  return problemResponse(c, 400, 'validation', 'the request is not valid', {
    errors: zodFieldErrors(result.error, WHERE[target] ?? target),
  });
}
