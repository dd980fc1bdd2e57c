import { z } from 'zod';
import { isStorableText, STORABLE_TEXT_MESSAGE } from '../kernel/index.ts';

/*
 * What a build may ask of the engine beyond its context, as `docker build` does: build arguments
 * (`--build-arg`), the stage to build (`--target`) and a build without the cache (`--no-cache`).
 * Warden and the agent check them with these same schemas.
 */

/** At most this many build arguments a build. */
export const MAX_BUILD_ARGS = 64;
/** The longest build argument value. */
export const MAX_BUILD_ARG_VALUE = 4096;

/** A build argument's name, as a Dockerfile's `ARG` declares it. */
export const BuildArgName = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]{0,127}$/,
    'must be a build argument name: letters, digits and _, not starting with a digit, at most 128',
  )
  // The one name a JavaScript object cannot hold as its own key once parsed: refused, not dropped.
  .refine((name) => name !== '__proto__', 'must not be __proto__');

/** A build argument's value. */
export const BuildArgValue = z
  .string()
  .max(MAX_BUILD_ARG_VALUE, `must be at most ${MAX_BUILD_ARG_VALUE} characters`)
  .refine(isStorableText, STORABLE_TEXT_MESSAGE);

/**
 * Build arguments by name: the values of the Dockerfile's `ARG`s. Kept in the image's record and, as
 * Docker keeps them, in the built image's history: not a place for secrets.
 */
export const BuildArgs = z
  .unknown()
  // A record's parse drops an own `__proto__` key without a word: refused here, before it.
  .refine((input) => typeof input !== 'object' || input === null || !Object.hasOwn(input, '__proto__'), {
    message: 'a build argument must not be named __proto__',
  })
  .pipe(
    z.record(BuildArgName, BuildArgValue).refine((args) => Object.keys(args).length <= MAX_BUILD_ARGS, {
      message: `at most ${MAX_BUILD_ARGS} build arguments`,
    }),
  );
export type BuildArgs = z.output<typeof BuildArgs>;

/** The stage of a multi-stage Dockerfile to build: the name a `FROM … AS <name>` gives it. */
export const BuildTarget = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,127}$/, 'must be a stage name, as FROM … AS <name> gives it');

/** What a build asks of the engine beyond its context (each absent when not asked). */
export interface BuildOptions {
  buildArgs?: BuildArgs;
  target?: string;
  noCache?: boolean;
}

/**
 * The options asked, each left out when it asks nothing (no build arguments, no target, the cache
 * used): what a record, an event, an agent call and an engine call carry, wherever they come from.
 */
export const buildOptions = (asked: {
  buildArgs?: BuildArgs | undefined;
  target?: string | undefined;
  noCache?: boolean | undefined;
}): BuildOptions => ({
  ...(asked.buildArgs && Object.keys(asked.buildArgs).length > 0 ? { buildArgs: asked.buildArgs } : {}),
  ...(asked.target ? { target: asked.target } : {}),
  ...(asked.noCache ? { noCache: true } : {}),
});
