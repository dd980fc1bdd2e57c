type Json = Record<string, unknown>;
const obj = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
const numbers = (v: unknown): number[] =>
  Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : [];

/**
 * What changed between two results of one tool: ports opened and closed (port scans, nmap), the
 * certificate (TLS), headers added, removed and changed (header audit), and for every tool the
 * top-level fields whose values differ.
 */
export function compareResults(tool: string, before: unknown, after: unknown) {
  const a = obj(before);
  const b = obj(after);
  const out: Json = {};
  if (tool === 'port-scan' || tool === 'nmap') {
    const was = new Set(numbers(a.open));
    const now = new Set(numbers(b.open));
    out.ports = {
      opened: [...now].filter((p) => !was.has(p)).sort((x, y) => x - y),
      closed: [...was].filter((p) => !now.has(p)).sort((x, y) => x - y),
    };
  }
  if (tool === 'tls-inspect') {
    const ca = obj(a.certificate);
    const cb = obj(b.certificate);
    out.certificate = {
      changed: ca.fingerprint256 !== cb.fingerprint256,
      before: a.certificate ?? null,
      after: b.certificate ?? null,
    };
    out.protocol = { before: a.protocol ?? null, after: b.protocol ?? null };
  }
  if (tool === 'http-headers') {
    const ha = obj(a.headers);
    const hb = obj(b.headers);
    out.headers = {
      added: Object.keys(hb)
        .filter((h) => !(h in ha))
        .sort(),
      removed: Object.keys(ha)
        .filter((h) => !(h in hb))
        .sort(),
      changed: Object.keys(hb)
        .filter((h) => h in ha && ha[h] !== hb[h])
        .sort(),
    };
    out.grade = { before: a.grade ?? null, after: b.grade ?? null };
  }
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  out.fields_changed = keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  return out;
}
