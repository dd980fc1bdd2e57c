import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ImageName, ImageRef, ImageTag } from '../../src/commands/workspaces/index.ts';
import { BuildQuery, CreateContainer, ImageParams, PushBody } from '../../src/workspaces/agent/schemas.ts';

/*
 * Docker's reference grammar (distribution/reference), checked piece by piece: the reference split
 * at its digest, its tag and its slashes, each piece held to the grammar's own production.
 */
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;

function isDomain(text: string): boolean {
  const ipv6 = /^\[[a-fA-F0-9:]+\](?::[0-9]+)?$/;
  if (ipv6.test(text)) return true;
  const [host = '', port, ...more] = text.split(':');
  if (more.length > 0 || (port !== undefined && !/^[0-9]+$/.test(port))) return false;
  return host.split('.').every((c) => DOMAIN_COMPONENT.test(c));
}

/** Whether Docker's grammar takes `ref` (the first component is a host when it has a dot or port, or is localhost). */
function dockerAccepts(ref: string): boolean {
  let rest = ref;
  const at = rest.indexOf('@');
  if (at >= 0) {
    if (!DIGEST.test(rest.slice(at + 1))) return false;
    rest = rest.slice(0, at);
  }
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    if (!TAG.test(rest.slice(colon + 1))) return false;
    rest = rest.slice(0, colon);
  }
  const components = rest.split('/');
  const first = components[0] ?? '';
  // A first component with a dot or a port, or `localhost`, is a registry host when it parses as one
  // (else, as the grammar's regular expression reads it, a path component like any other).
  const hostLike = first.includes('.') || first.includes(':') || first === 'localhost';
  if (components.length > 1 && hostLike && isDomain(first)) components.shift();
  return rest.length <= 255 && components.every((c) => PATH_COMPONENT.test(c));
}

/** Text made of the characters references are made of, separators over-represented. */
const refLike = fc
  .array(
    fc.constantFrom(...'ab09Z._-/:@'.split(''), '..', '/..', '__', 'sha256:', 'registry.example.com:5000/'),
    {
      maxLength: 24,
    },
  )
  .map((parts) => parts.join(''));

/** References the grammar takes, built from its productions. */
const component = fc
  .array(fc.stringMatching(/^[a-z0-9]{1,4}$/), { minLength: 1, maxLength: 3 })
  .chain((runs) =>
    fc
      .array(fc.constantFrom('.', '_', '__', '-', '--'), {
        minLength: runs.length - 1,
        maxLength: runs.length - 1,
      })
      .map((seps) => runs.map((run, i) => (i === 0 ? run : `${seps[i - 1]}${run}`)).join('')),
  );
const validRef = fc
  .record({
    host: fc.option(
      fc.constantFrom('registry.example.com', 'localhost:5000', '127.0.0.1:5000', 'Reg.Example.com'),
    ),
    path: fc.array(component, { minLength: 1, maxLength: 4 }),
    tag: fc.option(fc.stringMatching(/^[\w][\w.-]{0,10}$/)),
    digest: fc.option(fc.constant(`sha256:${'a1'.repeat(32)}`)),
  })
  .map(
    ({ host, path, tag, digest }) =>
      `${host ? `${host}/` : ''}${path.join('/')}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`,
  );

describe('image references follow Docker’s reference grammar', () => {
  it('accepts only references the grammar takes (whatever text is tried)', () => {
    fc.assert(
      fc.property(fc.oneof(refLike, validRef, fc.string({ maxLength: 40 })), (text) => {
        if (ImageRef.safeParse(text).success) expect(dockerAccepts(text), text).toBe(true);
        if (ImageName.safeParse(text).success)
          expect(dockerAccepts(text) && !text.includes(':'), text).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('accepts the references the grammar builds', () => {
    fc.assert(
      fc.property(validRef, (ref) => {
        expect(dockerAccepts(ref), ref).toBe(true);
        expect(ImageRef.safeParse(ref).success, ref).toBe(true);
      }),
    );
  });

  it('refuses a `..` (or `.`, or empty) path component anywhere, in Warden’s schemas and the agent’s', () => {
    const agentSchemas = [
      (ref: string) => ImageParams.safeParse({ ref }),
      (ref: string) =>
        BuildQuery.safeParse({ tag: ref, context: crypto.randomUUID(), sha256: 'a'.repeat(64) }),
      (ref: string) => PushBody.safeParse({ source: ref, target: 'registry.example.com/team/app:1' }),
      (ref: string) => PushBody.safeParse({ source: 'team/app:1', target: ref }),
      (ref: string) => CreateContainer.safeParse({ name: 'ws-1', image: ref }),
    ];
    fc.assert(
      fc.property(validRef, fc.nat(), fc.constantFrom('..', '.', ''), (ref, at, bad) => {
        const [name = '', ...suffix] = ref.split(/(?=[:@][^/]*$)/);
        const parts = name.split('/');
        parts.splice(at % (parts.length + 1), 0, bad);
        const broken = [parts.join('/'), ...suffix].join('');
        expect(dockerAccepts(broken), broken).toBe(false);
        expect(ImageRef.safeParse(broken).success, broken).toBe(false);
        expect(ImageName.safeParse(parts.join('/')).success, broken).toBe(false);
        for (const parse of agentSchemas) expect(parse(broken).success, broken).toBe(false);
      }),
    );
    for (const ref of ['team/../app:1', '../etc', 'team/..', 'a/../../containers/x/json', 'team/app:..']) {
      expect(ImageRef.safeParse(ref).success, ref).toBe(false);
    }
    expect(ImageTag.safeParse('..').success).toBe(false);
  });

  it('refuses leading, trailing and doubled separators and uppercase paths', () => {
    for (const ref of [
      '-team/app',
      'team-/app',
      'team/app.',
      'team//app',
      'team/.app',
      'team___x',
      'Team/app',
      'team/App:1',
      '/team',
      'team/',
    ]) {
      expect(ImageRef.safeParse(ref).success, ref).toBe(false);
      expect(dockerAccepts(ref), ref).toBe(false);
    }
    // What Docker takes and the old rule refused or garbled still parses.
    for (const ref of [
      'team/app:Latest',
      'a__b/c--d:1',
      'Reg.Example.com:5000/team/app',
      `app@sha256:${'0'.repeat(64)}`,
    ]) {
      expect(ImageRef.safeParse(ref).success, ref).toBe(true);
    }
  });
});
