/** What one problem `type` means: its title, the statuses it comes with, and what a client does about it. */
export interface ProblemDescription {
  title: string;
  statuses: readonly number[];
  description: string;
}

/**
 * Every problem `type` Warden answers, by code: `/problems/<code>` serves each entry (HTML or JSON).
 * `problemResponse` and `RequestError` take only these codes, so a new failure cannot ship undocumented.
 */
export const problemCatalogue = {
  validation: {
    title: 'The request is not valid',
    statuses: [400],
    description:
      'A body field, query parameter, path parameter or header failed validation. `errors` lists each one with its `path` (`name`, `query.sort`, `header.if-match`) and a message. Fix the fields and send again; nothing was changed.',
  },
  malformed: {
    title: 'Malformed request',
    statuses: [400],
    description: 'The body could not be read at all (broken JSON, a bad form encoding). Nothing was changed.',
  },
  'bad-cursor': {
    title: 'Cursor not handed out by this list',
    statuses: [400],
    description:
      'A list’s `cursor` is opaque and bound to its sort and search. Start again without a cursor, or keep the sort and `q` that produced it.',
  },
  'bad-header': {
    title: 'A header is not valid',
    statuses: [400],
    description:
      'A header (such as `X-Min-Position` or `Idempotency-Key`) has a value Warden cannot use; `errors` names it.',
  },
  unauthenticated: {
    title: 'Authentication required',
    statuses: [401],
    description:
      'Send `Authorization: Bearer <access token>` (from `POST /v1/auth/login` or the OAuth token endpoint).',
  },
  'invalid-token': {
    title: 'Access token not valid',
    statuses: [401],
    description:
      'The token is expired, revoked (logout, password change), malformed or signed by an unknown key. Refresh it or sign in again.',
  },
  'invalid-ticket': {
    title: 'Workspace ticket missing or malformed',
    statuses: [400],
    description:
      'The link into a workspace carries no ticket, or not one Warden issued. Ask for a new link with POST /v1/workspaces/{id}/sessions.',
  },
  'ticket-refused': {
    title: 'Workspace ticket refused',
    statuses: [401],
    description:
      'The ticket was used already (each works once), expired (after 60 s), or its user may no longer use the workspace. Ask for a new link with POST /v1/workspaces/{id}/sessions.',
  },
  'invalid-refresh-token': {
    title: 'Refresh token not valid',
    statuses: [401],
    description:
      'The refresh token is unknown, expired or already used. Presenting a used one revokes its whole family: sign in again.',
  },
  'invalid-credentials': {
    title: 'Wrong email or password',
    statuses: [401],
    description:
      'The same answer for an unknown account and a wrong password, so nobody learns who has an account.',
  },
  'account-not-active': {
    title: 'Account not active',
    statuses: [403],
    description: 'The account is waiting for approval or has been deactivated in this tenant.',
  },
  'too-many-attempts': {
    title: 'Too many sign-in attempts',
    statuses: [429],
    description: 'Sign-in for this account or address is throttled; `Retry-After` says when to try again.',
  },
  forbidden: {
    title: 'Not allowed',
    statuses: [403],
    description:
      'The caller’s role (tenant or project) or the token’s OAuth scopes do not grant this. `rule` names the rule when a business rule refuses it.',
  },
  'not-found': {
    title: 'Not found',
    statuses: [404],
    description:
      'No such resource in this tenant, or no route. Another tenant’s resources answer this too: a 404 never confirms that something exists elsewhere.',
  },
  'tenant-not-found': {
    title: 'Unknown tenant',
    statuses: [404],
    description:
      'The tenant named by the path prefix, `X-Tenant`, custom domain or subdomain does not exist.',
  },
  'tenant-suspended': {
    title: 'Tenant suspended',
    statuses: [403],
    description:
      'The tenant is suspended by the platform administrator; its data stays, its API does not answer.',
  },
  'method-not-allowed': {
    title: 'Method not allowed',
    statuses: [405],
    description: 'The path exists but not with this method.',
  },
  conflict: {
    title: 'Conflict',
    statuses: [409],
    description:
      'The change conflicts with the current state (a key or name already taken, an entity already created).',
  },
  'concurrent-change': {
    title: 'Changed concurrently',
    statuses: [409],
    description: 'Another request changed the entity at the same moment. Read it again and retry.',
  },
  'rule-violated': {
    title: 'A business rule refuses it',
    statuses: [409],
    description:
      '`rule` names the rule (the README lists the tracker’s and the firewall’s). Nothing was appended.',
  },
  'idempotency-in-progress': {
    title: 'Same Idempotency-Key still running',
    statuses: [409],
    description:
      'A request with this `Idempotency-Key` is still being processed; retry shortly to get its answer.',
  },
  'precondition-failed': {
    title: 'If-Match does not match',
    statuses: [412],
    description:
      'The entity changed since the `ETag` you sent; the answer’s `ETag` is the current one. Re-read, re-apply, retry.',
  },
  'body-too-large': {
    title: 'Body too large',
    statuses: [413],
    description:
      'The body exceeds `WARDEN_BODY_LIMIT_BYTES` (or `WARDEN_LOCKFILE_LIMIT_BYTES` for lockfiles, `WARDEN_IMAGE_CONTEXT_MAX_BYTES` for an image build context, cut off as it streams: nothing staged, nothing recorded).',
  },
  'unsupported-media-type': {
    title: 'Unsupported media type',
    statuses: [415],
    description: 'Send the `Content-Type` the route documents (usually `application/json`).',
  },
  'range-not-satisfiable': {
    title: 'Range not satisfiable',
    statuses: [416],
    description: 'The requested byte range lies outside the content.',
  },
  invalid: {
    title: 'A value a rule refuses',
    statuses: [422],
    description:
      'The request is well-formed but a value is refused (an unknown label, an assignee who is no member, a project of another tenant). `errors` names the fields, `rule` the rule.',
  },
  'quota-exceeded': {
    title: 'Quota exceeded',
    statuses: [429],
    description:
      '`quota` names the plan limit, `limit` its value and `reset_at` when it resets (`Retry-After` too).',
  },
  'rate-limited': {
    title: 'Rate limit reached',
    statuses: [429],
    description:
      'Too many requests for this caller (or, without credentials, this address); `Retry-After` says when to retry.',
  },
  'read-model-behind': {
    title: 'Read model not yet at the position',
    statuses: [503],
    description:
      '`X-Min-Position` asked for a position the read model did not reach within `WARDEN_READ_WAIT_MS`. Retry; the write is not lost.',
  },
  'rebuild-in-progress': {
    title: 'Rebuild in progress',
    statuses: [409],
    description:
      'The projection is already being rebuilt; follow its progress at `GET /v1/admin/projections`.',
  },
  'package-not-allowed': {
    title: 'Package not allowed',
    statuses: [403],
    description: 'The package version is not approved for this tenant’s npm view.',
  },
  'not-published': {
    title: 'Not published',
    statuses: [404],
    description: 'The package version is approved but not (yet) published to the secure registry.',
  },
  'no-secure-registry': {
    title: 'No secure registry configured',
    statuses: [503],
    description: 'The firewall’s secure registry is not configured on this Warden.',
  },
  'registry-unavailable': {
    title: 'Registry unavailable',
    statuses: [502],
    description: 'The registry Warden reads from did not answer; retry later.',
  },
  'target-not-allowed': {
    title: 'Target not allowed',
    statuses: [403],
    description: 'The tool target is not on the tenant’s list of allowed targets.',
  },
  'tool-unavailable': {
    title: 'Tool unavailable',
    statuses: [409],
    description: 'The tool cannot run here now (no runner, or disabled).',
  },
  'malformed-json': {
    title: 'Body is not JSON',
    statuses: [400],
    description: 'The body could not be parsed as JSON; `detail` says where. Nothing was changed.',
  },
  'tenant-ambiguous': {
    title: 'Two different tenants named',
    statuses: [400],
    description: 'The path prefix `/t/<slug>` and `X-Tenant` name different tenants: name one.',
  },
  'idempotency-key-reused': {
    title: 'Idempotency-Key reused for another request',
    statuses: [422],
    description:
      'An `Idempotency-Key` answers only the request it was first sent with (same method, path and body). Use a new key for a new request.',
  },
  'idempotency-response-withheld': {
    title: 'Done, but the response is not kept',
    statuses: [409],
    description:
      'The first request with this key succeeded, but its answer showed a secret, which Warden does not store. Read the resource (or rotate the secret) instead.',
  },
  'integrity-mismatch': {
    title: 'Integrity mismatch',
    statuses: [502],
    description:
      'The secure registry holds other bytes for this package version than were approved; it is not served.',
  },
  'tool-quota-exhausted': {
    title: 'Daily tool executions used up',
    statuses: [429],
    description:
      'The plan’s tool executions for the day are used; `reset_at` and `Retry-After` say when they renew.',
  },
  'parameters-too-large': {
    title: 'Tool parameters too large',
    statuses: [413],
    description: 'A tool execution’s parameters exceed the documented size.',
  },
  'websocket-unavailable': {
    title: 'WebSocket not available',
    statuses: [501],
    description:
      'This server was started without WebSocket support; follow the output with the streaming HTTP endpoint instead.',
  },
  'backup-unavailable': {
    title: 'Backups are the database server’s',
    statuses: [501],
    description:
      'Warden copies its database only when it is embedded PGlite. On a PostgreSQL server (`DATABASE_URL`) back it up with the server’s own tools (`pg_dump`, base backups, your provider’s snapshots).',
  },
  'backup-in-progress': {
    title: 'A backup is being taken',
    statuses: [409],
    description: 'One backup of the database at a time: wait for the one under way to end, then ask again.',
  },
  'agent-in-use': {
    title: 'Agent still holds workspaces',
    statuses: [409],
    description: 'Delete or move the agent’s workspaces before removing it.',
  },
  'bad-build-context': {
    title: 'The build context is not a tar archive',
    statuses: [422],
    description:
      '`POST /v1/images/builds` takes the build context as a tar archive (`application/x-tar`); the body was empty or its first 512-byte block is not a tar header. Nothing was staged on the agent, nothing recorded.',
  },
  'no-image-registry': {
    title: 'No image registry configured',
    statuses: [409],
    description: 'Set the tenant’s registry with `PUT /v1/images/registry` before pushing an image.',
  },
  'image-push-failed': {
    title: 'The registry refused the push',
    statuses: [502],
    description:
      'The agent could not push the image to the tenant’s registry (unreachable, or the credentials were refused); `detail` says what the registry answered.',
  },
  'agent-unavailable': {
    title: 'Agent did not answer',
    statuses: [503],
    description: 'A workspace agent needed for this did not answer; retry when it is back.',
  },
  'malformed-text': {
    title: 'The body is not text',
    statuses: [400],
    description:
      'A text body (a pnpm or Yarn lockfile sent as YAML or plain text) must be UTF-8. Nothing was changed.',
  },
  'wrong-password': {
    title: 'The current password is wrong',
    statuses: [403],
    description:
      'Changing a password needs the current one; it counts as a failed sign-in for throttling. Nothing was changed.',
  },
  'password-change-required': {
    title: 'A new password is required',
    statuses: [403],
    description:
      'An administrator reset this password. Sign in again with the same body plus `new_password`: the password changes and the sign-in succeeds in one step.',
  },
  'password-change-not-required': {
    title: 'No password change is pending',
    statuses: [409],
    description:
      '`new_password` belongs to a sign-in only after an administrator reset; otherwise change a password with `POST /v1/me/password`.',
  },
  'email-not-verified': {
    title: 'The email is not verified',
    statuses: [403],
    description:
      'The account signed up where sign-up is open and has not opened its verification link yet; a fresh link is mailed with this answer.',
  },
  'signup-closed': {
    title: 'Self-service sign-up is closed',
    statuses: [403],
    description:
      'This deployment does not let anyone create a tenant (`WARDEN_TENANT_SIGNUP`); ask its operators for one.',
  },
  'bad-upload-request': {
    title: 'The upload request is not valid',
    statuses: [400],
    description:
      'A tus request to `/v1/uploads` lacks or mangles a header it needs (`Upload-Length`, `Upload-Offset`, `Upload-Metadata` with `sha256` and `agent` + `filename` or `workspace` + `path`); `detail` names it. Nothing was stored.',
  },
  'upload-offset-mismatch': {
    title: 'Upload-Offset is not where the upload stands',
    statuses: [409],
    description:
      'A PATCH must start where the upload stands: ask with `HEAD` for its `Upload-Offset` and send from there (tus clients do this when they resume).',
  },
  'upload-gone': {
    title: 'The upload is over',
    statuses: [410],
    description:
      'The upload failed (a checksum mismatch, more bytes than declared) was terminated, or expired (no byte for `WARDEN_UPLOAD_EXPIRY_MS`); its bytes are deleted. Start a new one.',
  },
  'tus-version': {
    title: 'Unsupported tus version',
    statuses: [412],
    description: 'Uploads speak tus 1.0: send `Tus-Resumable: 1.0.0`.',
  },
  'upload-too-large': {
    title: 'The upload is too large',
    statuses: [413],
    description:
      'The declared `Upload-Length` is over the plan’s `upload_bytes` (counting the tenant’s unfinished uploads), or more bytes came than were declared. `detail` names the limit.',
  },
  'checksum-mismatch': {
    title: 'The file does not match its sha256',
    statuses: [422],
    description:
      'The bytes received hash to another sha256 than the one declared when the upload started; the file is deleted and the upload recorded as failed.',
  },
  'upload-locked': {
    title: 'The upload is busy',
    statuses: [423],
    description: 'Another request is appending to this upload right now; retry (tus clients do).',
  },
  'upload-refused': {
    title: 'The upload was refused',
    statuses: [400, 403, 500, 503],
    description: 'The upload store refused the request; `detail` says why.',
  },
  http: {
    title: 'HTTP error',
    statuses: [400, 404, 405, 503],
    description: 'The HTTP layer refused the request; `detail` says why.',
  },
  internal: {
    title: 'Internal error',
    statuses: [500],
    description:
      'Something unexpected failed. Nothing about it is revealed; quote `request_id` to the operators, who find it in the logs.',
  },
} as const satisfies Record<string, ProblemDescription>;

export type ProblemCode = keyof typeof problemCatalogue;

export const problemCodes = Object.keys(problemCatalogue) as ProblemCode[];

/**
 * The `type` of a problem: a reference to the page Warden serves about it, resolved against the URL
 * the client called (so every deployment serves its own, and the identifier is the same string
 * everywhere without echoing a request's Host).
 */
export function problemType(code: ProblemCode): string {
  return `/problems/${code}`;
}
