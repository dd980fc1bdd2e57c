/**
 * What a tenant's Dockerfile may not do on the agent's host. The engine fetches an `ADD <url>` itself,
 * from the host's own network (its loopback, the services only the host reaches), not from the
 * build's container: a Dockerfile whose `ADD` (or `ONBUILD ADD`) names a URL, a git remote or a
 * variable (which could expand to one) is refused. Sources are read as the engine's parser reads
 * them, line continuations and comments included, and under both escape characters (`\` and the
 * `# escape=` backtick), so a directive cannot make the check read another Dockerfile than the engine.
 */
export function forbiddenInstruction(dockerfile: string): string | undefined {
  const text = dockerfile.replace(/^\uFEFF/, '');
  for (const escapeChar of ['\\', '`']) {
    for (const glue of ['', ' ']) {
      for (const line of logicalLines(text, escapeChar, glue)) {
        const problem = checkLine(line, escapeChar);
        if (problem) return problem;
      }
    }
  }
  return undefined;
}

/**
 * The instructions, one per logical line: comments and empty lines dropped, continuations joined as
 * the engine joins them (`glue` ''; its later lines keep their leading blanks) or with a blank.
 */
function logicalLines(text: string, escapeChar: string, glue: string): string[] {
  const lines: string[] = [];
  let pending: string | undefined;
  const end = new RegExp(`${escapeChar === '\\' ? '\\\\' : escapeChar}[ \t]*$`);
  for (const raw of text.split(/\r?\n|\r/)) {
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const line = pending === undefined ? raw.trimStart() : raw;
    const continued = end.test(line);
    const part = continued ? line.replace(end, '') : line;
    pending = pending === undefined ? part : `${pending}${glue}${part}`;
    if (!continued) {
      lines.push(pending);
      pending = undefined;
    }
  }
  if (pending !== undefined) lines.push(pending);
  return lines;
}

function checkLine(line: string, escapeChar: string): string | undefined {
  let [keyword, rest] = splitKeyword(line);
  if (keyword === 'ONBUILD') [keyword, rest] = splitKeyword(rest);
  if (keyword !== 'ADD') return undefined;
  for (const source of sourcesOf(rest)) {
    const plain = source.split(escapeChar).join('').replace(/["']/g, '').toLowerCase();
    if (plain.includes('://') || plain.startsWith('git@') || plain.includes('$')) {
      return `the Dockerfile may not ADD a URL, a git remote or a variable (${source}): the agent's host would fetch it; fetch it in a RUN step or COPY it from the context`;
    }
  }
  return undefined;
}

function splitKeyword(line: string): [string, string] {
  const match = /^(\S+)\s*(.*)$/s.exec(line.trim());
  return match ? [(match[1] ?? '').toUpperCase(), match[2] ?? ''] : ['', ''];
}

/**
 * An `ADD`'s sources: its arguments but the leading `--flags` and the last (the destination), read
 * both as a JSON list (the engine's exec form) and as whitespace-separated words, so a form one
 * reading misses the other catches.
 */
function sourcesOf(rest: string): string[] {
  const words = rest.split(/\s+/).filter((word) => word !== '');
  let first = 0;
  while (first < words.length && words[first]?.startsWith('--')) first++;
  const after = words.slice(first);
  const sources = after.slice(0, -1);
  for (const candidate of [rest, after.join(' ')]) {
    try {
      const list: unknown = JSON.parse(candidate);
      if (Array.isArray(list)) sources.push(...list.slice(0, -1).map(String));
    } catch {}
  }
  return sources;
}
