import { z } from 'zod';

/** `22,80,8000-8100` → the ports, each once, ascending. At most 65,535 of them. */
export const PortList = z
  .string()
  .trim()
  .max(2000)
  .regex(/^\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*$/, 'must be ports and ranges such as 22,80,8000-8100')
  .transform((text, ctx) => {
    const ports = new Set<number>();
    for (const part of text.split(',')) {
      const [from, to = from] = part.split('-').map(Number) as [number, number?];
      if (from < 1 || to > 65_535 || from > to) {
        ctx.addIssue({ code: 'custom', message: `${part} is not a port range within 1-65535` });
        return z.NEVER;
      }
      for (let p = from; p <= to; p++) ports.add(p);
    }
    return [...ports].sort((a, b) => a - b);
  });
