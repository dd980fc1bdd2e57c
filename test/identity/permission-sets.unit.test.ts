import { describe, expect, it } from 'vitest';
import {
  permissionList,
  permissions,
  permissionsOf,
  tenantRoles,
} from '../../src/commands/identity/index.ts';
import { permissionMatrix } from '../../src/commands/identity/permissions.ts';

describe('permission sets', () => {
  it('hands every request of a role the one set made for it, holding exactly the matrix row', () => {
    for (const role of tenantRoles) {
      expect(permissionsOf(role)).toBe(permissionsOf(role));
      expect([...permissionsOf(role)].sort()).toEqual([...permissionMatrix[role]].sort());
    }
    expect(permissionsOf('member', true)).toBe(permissionsOf('owner', true));
    expect([...permissionsOf('member', true)].sort()).toEqual([...permissions].sort());
  });

  it('lists a set in the matrix order once, and any other set by what it holds', () => {
    for (const role of tenantRoles) {
      const list = permissionList(permissionsOf(role));
      expect(list).toEqual(permissions.filter((p) => permissionsOf(role).has(p)));
      expect(permissionList(permissionsOf(role))).toBe(list);
    }
    const narrowed = new Set(['tracker:write', 'tenant:read'] as const);
    expect(permissionList(narrowed)).toEqual(['tenant:read', 'tracker:write']);
  });
});
