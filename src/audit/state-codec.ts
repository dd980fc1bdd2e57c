/**
 * A state as text and back, keeping what JSON alone loses: sets, maps, dates, bigints, undefined
 * values and the numbers JSON lacks (NaN, ±Infinity, -0). Tagged objects (`{"$set": […]}`) mark
 * them; a plain object with a key starting with `$` is wrapped (`{"$object": …}`), so no state can be
 * mistaken for a tag.
 */
export function encodeState(value: unknown): string {
  return JSON.stringify(encode(value));
}

export function decodeState(text: string): unknown {
  return decode(JSON.parse(text));
}

type Tagged = Record<string, unknown>;

function encode(value: unknown): unknown {
  if (value === undefined) return { $undefined: true };
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  // JSON has no NaN and no infinities, and writes -0 as 0.
  if (Object.is(value, -0)) return { $number: '-0' };
  if (typeof value === 'number' && !Number.isFinite(value)) return { $number: String(value) };
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Date) return { $date: Number.isNaN(value.getTime()) ? null : value.toISOString() };
  if (value instanceof Set) return { $set: [...value].map(encode) };
  if (value instanceof Map) return { $map: [...value].map(([k, v]) => [encode(k), encode(v)]) };
  if (Array.isArray(value)) return value.map(encode);
  const entries = Object.entries(value);
  // fromEntries makes own properties even of keys such as `__proto__`.
  const out: Tagged = Object.fromEntries(entries.map(([key, item]) => [key, encode(item)]));
  return entries.some(([key]) => key.startsWith('$')) ? { $object: out } : out;
}

function decode(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(decode);
  const tagged = value as Tagged;
  if ('$undefined' in tagged) return undefined;
  if ('$bigint' in tagged) return BigInt(tagged.$bigint as string);
  if ('$number' in tagged) return Number(tagged.$number);
  if ('$date' in tagged) return new Date(tagged.$date === null ? Number.NaN : (tagged.$date as string));
  if ('$set' in tagged) return new Set((tagged.$set as unknown[]).map(decode));
  if ('$map' in tagged)
    return new Map((tagged.$map as [unknown, unknown][]).map(([k, v]) => [decode(k), decode(v)]));
  const source = '$object' in tagged ? (tagged.$object as Tagged) : tagged;
  return Object.fromEntries(Object.entries(source).map(([key, item]) => [key, decode(item)]));
}
