import { describe, expect, it } from 'vitest';
import { cvssBaseScore, severityOfScore } from '../../src/packages/osv/cvss.ts';
import { severityOf } from '../../src/packages/osv/match.ts';
import { OsvRecord } from '../../src/packages/osv/record.ts';

const record = (severity: { type: string; score: string }[], own?: string) =>
  OsvRecord.parse({
    id: 'GHSA-cvss-0001',
    modified: '2026-01-01T00:00:00Z',
    severity,
    ...(own ? { database_specific: { severity: own } } : {}),
    affected: [{ package: { ecosystem: 'npm', name: 'pkg' }, versions: ['1.0.0'] }],
  });

describe('CVSS base scores (scores as FIRST’s calculators give them)', () => {
  it('scores CVSS v4.0 vectors', () => {
    expect(cvssBaseScore('CVSS_V4', 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N')).toBe(
      9.3,
    );
    expect(cvssBaseScore('CVSS_V4', 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H')).toBe(
      10,
    );
    expect(cvssBaseScore('CVSS_V4', 'CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N')).toBe(
      8.5,
    );
    expect(cvssBaseScore('CVSS_V4', 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N')).toBe(
      5.3,
    );
    expect(cvssBaseScore('CVSS_V4', 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N')).toBe(
      0,
    );
  });

  it('scores CVSS v3.0/v3.1 and v2 vectors with the same library', () => {
    expect(cvssBaseScore('CVSS_V3', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H')).toBe(9.8);
    expect(cvssBaseScore('CVSS_V3', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H')).toBe(10);
    expect(cvssBaseScore('CVSS_V3', 'CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:L/A:L')).toBe(5.6);
    expect(cvssBaseScore('CVSS_V3', 'CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N')).toBe(6.4);
    expect(cvssBaseScore('CVSS_V2', 'AV:N/AC:L/Au:N/C:P/I:P/A:P')).toBe(7.5);
  });

  it('refuses partial vectors, the wrong version for the type, and text that is no vector', () => {
    expect(cvssBaseScore('CVSS_V4', 'CVSS:4.0/AV:N/AC:L')).toBeUndefined();
    expect(cvssBaseScore('CVSS_V4', 'CVSS:4.0/AV:X/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N')).toBe(
      undefined,
    );
    expect(cvssBaseScore('CVSS_V3', 'CVSS:3.1/AV:N')).toBeUndefined();
    expect(cvssBaseScore('CVSS_V3', 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N')).toBe(
      undefined,
    );
    expect(cvssBaseScore('CVSS_V4', 'garbage')).toBeUndefined();
    expect(cvssBaseScore('CVSS_V4', `CVSS:4.0/${'AV:N/'.repeat(200)}`)).toBeUndefined();
  });

  it('rates scores on the v3/v4 scale; v2 tops out at high', () => {
    expect(severityOfScore(9.3, 'CVSS_V4')).toBe('critical');
    expect(severityOfScore(8.5, 'CVSS_V4')).toBe('high');
    expect(severityOfScore(5.3, 'CVSS_V4')).toBe('medium');
    expect(severityOfScore(2, 'CVSS_V4')).toBe('low');
    expect(severityOfScore(0, 'CVSS_V4')).toBe('info');
    expect(severityOfScore(10, 'CVSS_V2')).toBe('high');
  });
});

describe('advisory severity from its vectors', () => {
  it('derives severity from a v4 vector when the advisory has only that', () => {
    expect(
      severityOf(
        record([
          { type: 'CVSS_V4', score: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N' },
        ]),
      ),
    ).toBe('critical');
    expect(
      severityOf(
        record([
          { type: 'CVSS_V4', score: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N' },
        ]),
      ),
    ).toBe('medium');
  });

  it('prefers v4 over v3 when both are given, and falls back to v3, then the advisory’s own rating', () => {
    const v3High = { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N' };
    const v4Critical = {
      type: 'CVSS_V4',
      score: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N',
    };
    expect(severityOf(record([v3High, v4Critical]))).toBe('critical');
    expect(severityOf(record([v3High, { type: 'CVSS_V4', score: 'CVSS:4.0/AV:N' }]))).toBe('high');
    expect(severityOf(record([{ type: 'CVSS_V4', score: 'not a vector' }], 'LOW'))).toBe('low');
    expect(severityOf(record([]))).toBe('medium');
  });
});
