import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shadowSchemaName } from '../../src/projections/engine/index.ts';

const schema = fc.stringMatching(/^[a-z_][a-z0-9_]{0,62}$/);

describe('shadow schema name', () => {
  it('is a plain PostgreSQL identifier of at most 63 characters, whatever the names', () => {
    fc.assert(
      fc.property(schema, fc.string({ minLength: 1, maxLength: 200 }), (live, projection) => {
        expect(shadowSchemaName(live, projection)).toMatch(/^[a-z_][a-z0-9_]{0,62}$/);
      }),
    );
  });

  it('differs between projections of one schema and between schemas, even when names fold alike', () => {
    fc.assert(
      fc.property(schema, schema, fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (a, b, p, q) => {
        fc.pre(p !== q && a !== b);
        expect(shadowSchemaName(a, p)).not.toBe(shadowSchemaName(a, q));
        expect(shadowSchemaName(a, p)).not.toBe(shadowSchemaName(b, p));
      }),
    );
    expect(shadowSchemaName('public', 'tenantList')).not.toBe(shadowSchemaName('public', 'tenantlist'));
    expect(shadowSchemaName('t_0123456789abcdef', 'tenantList')).toMatch(
      /^warden_shadow_tenantlist_[0-9a-f]{16}$/,
    );
  });
});
