import { cleanup } from './cleanup.ts';
import { refreshRotation } from './refresh-rotation.ts';
import { revocation } from './revocation.ts';
import type { TokenSessionDeps, TokenSessions } from './session-types.ts';
import { signIn } from './sign-in.ts';
import { sessionContext } from './token-families.ts';

/**
 * Refresh-token families in PostgreSQL/PGlite, with their lifecycle recorded as events for the audit
 * trail: sign-in (sign-in.ts), refresh rotation with reuse detection (refresh-rotation.ts), logout and
 * revocation (revocation.ts) checked against this process's copy (revocation-sync.ts), and the sweep
 * of what has expired (cleanup.ts).
 */
export function tokenSessions(deps: TokenSessionDeps): TokenSessions {
  const context = sessionContext(deps);
  return { ...signIn(context), ...refreshRotation(context), ...revocation(context), ...cleanup(context) };
}
