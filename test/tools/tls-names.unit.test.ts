import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sniName, sslscanArguments } from '../../src/tools/index.ts';

describe('the name a TLS tool sends as SNI', () => {
  it('is the host name without the trailing dot of its absolute form (RFC 6066 §3)', () => {
    expect(sniName('api.example.test.')).toBe('api.example.test');
    expect(sniName('api.example.test')).toBe('api.example.test');
    fc.assert(fc.property(fc.domain(), (name) => sniName(`${name}.`) === sniName(name)));
  });

  it('is none for an address, IPv6 with hex letters, IPv4-mapped or bracketed included', () => {
    for (const address of ['192.0.2.1', '::1', 'fd00::1', '::ffff:7f00:1', '::ffff:127.0.0.1', '[fd00::1]']) {
      expect(sniName(address), address).toBeNull();
    }
    fc.assert(fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (address) => sniName(address) === null));
  });
});

describe('the sslscan command line', () => {
  it('scans the checked address with the host name as SNI, without its trailing dot', () => {
    expect(sslscanArguments({ host: 'api.example.test.', port: 8443 }, '192.0.2.10')).toEqual([
      'sslscan',
      '--no-colour',
      '--xml=-',
      '--sni-name=api.example.test',
      '192.0.2.10:8443',
    ]);
  });

  it('brackets an IPv6 address, as sslscan reads `[addr]:port`', () => {
    expect(sslscanArguments({ host: 'api.example.test', port: 443 }, '2001:db8::10').at(-1)).toBe(
      '[2001:db8::10]:443',
    );
    expect(sslscanArguments({ host: 'fd00::1', port: 443 }, 'fd00::1')).toEqual([
      'sslscan',
      '--no-colour',
      '--xml=-',
      '[fd00::1]:443',
    ]);
  });
});
