/** The few logger methods the engine calls; a pino logger (or a child of one) fits as it is. */
export interface EngineLogger {
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

export const silentLogger: EngineLogger = {
  info: () => {},
  warn: () => {},
  error: () => {},
};
