import { describe, expect, it } from 'vitest';
import { addressBudgetKey } from '../../src/http/middleware/address-budget-key.ts';

describe('the anonymous budget an address spends', () => {
  it('is the IPv4 address itself, however the socket writes it', () => {
    expect(addressBudgetKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressBudgetKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it("is an IPv6 address's /64, so one subscriber's many addresses share one budget", () => {
    expect(addressBudgetKey('2001:db8:a:b:1:2:3:4')).toBe('2001:db8:a:b::/64');
    expect(addressBudgetKey('2001:0db8:000a:000b::99')).toBe('2001:db8:a:b::/64');
    expect(addressBudgetKey('[2001:db8::1]')).toBe('2001:db8:0:0::/64');
    expect(addressBudgetKey('::1')).toBe('0:0:0:0::/64');
    expect(addressBudgetKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });

  it('keeps what is not an address as written, and names a missing one', () => {
    expect(addressBudgetKey('2001:db8::1::2')).toBe('2001:db8::1::2');
    expect(addressBudgetKey('unknown-host')).toBe('unknown-host');
    expect(addressBudgetKey(undefined)).toBe('unknown');
  });
});
