import { describe, expect, it } from 'vitest';
import { createLogger, logFormatFor } from '../../src/logger.ts';

const capture = (format: 'json' | 'pretty') => {
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line) => void lines.push(line) }, format);
  return { logger, lines };
};

describe('log format', () => {
  it('is pretty on a terminal and JSON otherwise, unless LOG_FORMAT forces one', () => {
    expect(logFormatFor('auto', true)).toBe('pretty');
    expect(logFormatFor('auto', false)).toBe('json');
    expect(logFormatFor('json', true)).toBe('json');
    expect(logFormatFor('pretty', false)).toBe('pretty');
  });

  it('writes one JSON object per line by default', () => {
    const { logger, lines } = capture('json');
    logger.info({ requestId: 'r-1' }, 'served');
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'served', requestId: 'r-1', service: 'warden' });
  });

  it('writes human-readable lines in pretty mode, with every secret still redacted', () => {
    const { logger, lines } = capture('pretty');
    logger.info(
      {
        requestId: 'r-2',
        password: 'hunter2-password',
        body: { refresh_token: 'rt-secret-value' },
        headers: { authorization: 'Bearer at-secret-value' },
      },
      'signed in',
    );
    const text = lines.join('');
    expect(() => JSON.parse(text)).toThrow();
    expect(text).toMatch(/INFO.*signed in/);
    expect(text).toContain('r-2');
    expect(text).toContain('[redacted]');
    for (const secret of ['hunter2-password', 'rt-secret-value', 'at-secret-value']) {
      expect(text).not.toContain(secret);
    }
    // No colour codes unless asked for (stdout is a terminal).
    expect(text).not.toContain('\u001b[');
  });
});
