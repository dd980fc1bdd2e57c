/**
 * The permission matrix: one table, role → permissions. The README renders it; the authorization
 * test sends every protected route every role and checks the answer against it.
 */
export const tenantRoles = ['owner', 'admin', 'approver', 'operator', 'member'] as const;
export type TenantRole = (typeof tenantRoles)[number];

export const permissions = [
  'tenant:read',
  'tenant:manage',
  'users:read',
  'users:manage',
  'packages:read',
  'packages:request',
  'packages:approve',
  /**
   * The tenant's package policy (licenses, severities, heuristics, auto-approval): admins and owners.
   * Not approvers: whoever sets the rules must not also be who decides what they leave open, or a
   * policy change would approve wholesale with no per-package decision on record.
   */
  'packages:manage',
  'tracker:read',
  'tracker:write',
  'tools:read',
  'tools:execute',
  /** The tenant's tool target allowlist, and every member's executions (not only their own). */
  'tools:manage',
  'workspaces:use',
  /** Every agent and every workspace of the tenant, read-only (operators: the seed's "qvp"). */
  'workspaces:view',
  /** Agents, anyone's workspace and the tenant's workspace settings: admins only. */
  'workspaces:manage',
  'audit:read',
  /** Registering and managing the tenant's OAuth clients (applications that sign users in with Warden). */
  'clients:manage',
  'projections:rebuild',
  /** Creating and listing tenants, plans and suspension: the platform's business, no tenant role has it. */
  'platform:manage',
] as const;
export type Permission = (typeof permissions)[number];

const everyone: Permission[] = [
  'tenant:read',
  'packages:read',
  'packages:request',
  'tracker:read',
  'tracker:write',
  'tools:read',
  /** Intrusive tools (port and TLS scans) also need the operator role or above. */
  'tools:execute',
  'workspaces:use',
];

export const permissionMatrix: Readonly<Record<TenantRole, readonly Permission[]>> = {
  owner: permissions.filter((p) => p !== 'projections:rebuild' && p !== 'platform:manage'),
  admin: permissions.filter(
    (p) => p !== 'projections:rebuild' && p !== 'platform:manage' && p !== 'tenant:manage',
  ),
  approver: [...everyone, 'users:read', 'packages:approve', 'audit:read'],
  operator: [...everyone, 'workspaces:view'],
  member: everyone,
};

/** Permissions no tenant role holds: the platform's (its superadmin's sign-in only). */
export const platformPermissions: readonly Permission[] = permissions.filter(
  (p) => !tenantRoles.some((role) => permissionMatrix[role].includes(p)),
);

/**
 * Permissions only the tenant's owner holds (today `tenant:manage`): acting as the tenant itself. Read
 * from the matrix, so a permission added for owners alone is owner-only at once.
 */
export const ownerOnlyPermissions: readonly Permission[] = permissionMatrix.owner.filter(
  (p) => !tenantRoles.some((role) => role !== 'owner' && permissionMatrix[role].includes(p)),
);

/**
 * One set per role, made once: every authenticated request asks for its caller's, and a set built
 * per request was a measurable part of a cached read's cost. Callers only read them (`ReadonlySet`).
 */
const roleSets = new Map<TenantRole, ReadonlySet<Permission>>(
  tenantRoles.map((role) => [role, new Set(permissionMatrix[role])]),
);
const everyPermission: ReadonlySet<Permission> = new Set(permissions);

/** The platform superadmin holds every permission in every tenant, including `projections:rebuild` and `platform:manage`. */
export function permissionsOf(role: TenantRole, platformSuperadmin = false): ReadonlySet<Permission> {
  // cast: the map holds every role (built from `tenantRoles` above).
  return platformSuperadmin ? everyPermission : (roleSets.get(role) as ReadonlySet<Permission>);
}

const listed = new WeakMap<ReadonlySet<Permission>, readonly Permission[]>();

/**
 * The permissions of `held`, in the matrix's order (as `GET /v1/me` lists them); kept per set, so the
 * shared sets of `permissionsOf` are listed once. A set is never changed after it is made.
 */
export function permissionList(held: ReadonlySet<Permission>): readonly Permission[] {
  let list = listed.get(held);
  if (!list) {
    list = permissions.filter((p) => held.has(p));
    listed.set(held, list);
  }
  return list;
}

/** The matrix as a Markdown table (the README carries it; a test keeps the two equal). */
export function permissionTable(): string {
  const callers = [...tenantRoles, 'superadmin'] as const;
  const held = (caller: (typeof callers)[number], permission: Permission) =>
    caller === 'superadmin' ? true : permissionMatrix[caller].includes(permission);
  return [
    `| permission | ${callers.join(' | ')} |`,
    `| --- | ${callers.map(() => ':-:').join(' | ')} |`,
    ...permissions.map((p) => `| \`${p}\` | ${callers.map((c) => (held(c, p) ? '✓' : '')).join(' | ')} |`),
  ].join('\n');
}
