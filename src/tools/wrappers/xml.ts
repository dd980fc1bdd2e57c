/**
 * Just enough XML reading for the scanners' report formats: elements by name with their attributes
 * and raw inner text. The reports are machine-written and flat, so no general parser is needed.
 */
export interface XmlElement {
  attributes: Record<string, string>;
  inner: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
export const unescapeXml = (text: string) =>
  text.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);/gi, (_, e: string) =>
    e.startsWith('#x') || e.startsWith('#X')
      ? String.fromCodePoint(Number.parseInt(e.slice(2), 16))
      : e.startsWith('#')
        ? String.fromCodePoint(Number(e.slice(1)))
        : (ENTITIES[e.toLowerCase()] ?? ''),
  );

function attributesOf(text: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const m of text.matchAll(/([\w:-]+)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
    attributes[m[1]!] = unescapeXml(m[3] ?? m[4] ?? '');
  }
  return attributes;
}

/** Every `<name …>` element of `xml` (self-closing or with content, not nested in itself). */
export function elements(xml: string, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const re = new RegExp(`<${name}(\\s[^>]*?)?(/>|>([\\s\\S]*?)</${name}>)`, 'g');
  for (const m of xml.matchAll(re)) out.push({ attributes: attributesOf(m[1] ?? ''), inner: m[3] ?? '' });
  return out;
}
