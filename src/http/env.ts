import type { Logger } from 'pino';

/** Per-request values middleware puts on the Hono context. */
export interface AppEnv {
  Variables: {
    requestId: string;
    logger: Logger;
    /** Set by routes that take a JSON body, so idempotency can fingerprint the exact bytes. */
    rawBody?: string;
  };
}
