import { z } from 'zod';

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem' });

export const problemContent = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});

export const jsonContent = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

/** The failures every route can answer with. */
export const commonProblems = {
  400: problemContent('Invalid request: the `errors` member names each field'),
  413: problemContent('Body too large'),
  415: problemContent('Body is not JSON'),
  500: problemContent('Unexpected error (with a request id to quote)'),
};

export const IfMatchHeader = z.object({
  'if-match': z
    .string()
    .optional()
    .meta({ description: 'ETag of the revision the change is based on; 412 if stale' }),
});
