export type RegistryErrorCode =
  | 'not_found'
  | 'integrity_mismatch'
  | 'too_large'
  | 'unpacked_too_large'
  | 'malformed_tarball'
  | 'invalid_manifest'
  | 'unavailable'
  | 'unauthorized'
  | 'conflict'
  | 'unsafe_url';

/** A registry operation that failed, with a stable code and whether trying again later may help. */
export class RegistryError extends Error {
  constructor(
    readonly code: RegistryErrorCode,
    message: string,
    readonly retryable = code === 'unavailable',
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}
