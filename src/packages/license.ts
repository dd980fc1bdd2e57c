import spdxCorrect from 'spdx-correct';
import parseSpdx, { type SpdxNode } from 'spdx-expression-parse';
import deprecatedIds from 'spdx-license-ids/deprecated.json' with { type: 'json' };
import licenseIds from 'spdx-license-ids/index.json' with { type: 'json' };

const known = new Set(licenseIds.map((id) => id.toLowerCase()));
const deprecated = new Set(deprecatedIds.map((id) => id.toLowerCase()));

export type LicenseProblem = 'missing' | 'legacy_array' | 'legacy_object' | 'unparsable';

/**
 * A package's `license` field as one expression. The legacy forms are turned into SPDX, and say so:
 * `{ "type": "MIT" }` → `MIT`; `[{ "type": "MIT" }, { "type": "Apache-2.0" }]` (the old `licenses`
 * array, meaning a choice) → `(MIT OR Apache-2.0)`. Nothing is dropped silently.
 */
export function normalizeLicense(value: unknown): { expression: string | null; problem?: LicenseProblem } {
  if (value === undefined || value === null) return { expression: null, problem: 'missing' };
  if (typeof value === 'string') {
    const trimmed = value.trim();
    return trimmed === '' ? { expression: null, problem: 'missing' } : { expression: trimmed.slice(0, 500) };
  }
  const typeOf = (item: unknown) =>
    typeof item === 'string'
      ? item.trim()
      : typeof item === 'object' && item !== null && typeof (item as { type?: unknown }).type === 'string'
        ? (item as { type: string }).type.trim()
        : '';
  if (Array.isArray(value)) {
    const types = value.map(typeOf).filter((t) => t !== '');
    if (types.length === 0) return { expression: null, problem: 'missing' };
    const expression = types.length === 1 ? types[0]! : `(${types.join(' OR ')})`;
    return { expression: expression.slice(0, 500), problem: 'legacy_array' };
  }
  const type = typeOf(value);
  return type === ''
    ? { expression: null, problem: 'unparsable' }
    : { expression: type.slice(0, 500), problem: 'legacy_object' };
}

export interface LicensePolicy {
  /** Empty: every license not denied is allowed. */
  allow: readonly string[];
  deny: readonly string[];
}

export interface LicenseVerdict {
  verdict: 'allowed' | 'denied' | 'unknown' | 'missing';
  identifiers: string[];
  deprecated: string[];
  /** What spdx-correct suggests for an expression that is not SPDX (reported, never applied). */
  corrected?: string;
  reason: string;
}

type Leaf = { verdict: 'allowed' | 'denied' | 'unknown'; reason: string };
const rank = { denied: 0, unknown: 1, allowed: 2 } as const;

function leaves(node: SpdxNode, out: string[] = []): string[] {
  if ('license' in node) out.push(node.license);
  else {
    leaves(node.left, out);
    leaves(node.right, out);
  }
  return out;
}

/**
 * Evaluates an SPDX expression against a policy: `OR` takes the best branch (the user may choose),
 * `AND` the worst (every license applies). An identifier that is not SPDX, `LicenseRef-…`,
 * `SEE LICENSE IN …` and `UNLICENSED` are `unknown`: a person must read them.
 */
export function evaluateLicense(expression: string | null, policy: LicensePolicy): LicenseVerdict {
  if (expression === null || expression.trim() === '') {
    return { verdict: 'missing', identifiers: [], deprecated: [], reason: 'no license is declared' };
  }
  const trimmed = expression.trim();
  if (/^SEE LICEN[CS]E IN /i.test(trimmed)) {
    return { verdict: 'unknown', identifiers: [], deprecated: [], reason: `a custom license: ${trimmed}` };
  }
  if (trimmed.toUpperCase() === 'UNLICENSED') {
    return {
      verdict: 'unknown',
      identifiers: [],
      deprecated: [],
      reason: 'UNLICENSED: no right to use is granted',
    };
  }
  let tree: SpdxNode;
  try {
    tree = parseSpdx(trimmed);
  } catch {
    const corrected = spdxCorrect(trimmed) ?? undefined;
    return {
      verdict: 'unknown',
      identifiers: [],
      deprecated: [],
      ...(corrected ? { corrected } : {}),
      reason: corrected
        ? `"${trimmed}" is not an SPDX expression (did it mean ${corrected}?)`
        : `"${trimmed}" is not an SPDX expression`,
    };
  }
  const allow = new Set(policy.allow.map((id) => id.toLowerCase()));
  const deny = new Set(policy.deny.map((id) => id.toLowerCase()));
  const leaf = (node: { license: string; plus?: true }): Leaf => {
    const id = node.license.toLowerCase();
    if (deny.has(id)) return { verdict: 'denied', reason: `${node.license} is denied by the policy` };
    if (!known.has(id) && !deprecated.has(id)) {
      return { verdict: 'unknown', reason: `${node.license} is not an SPDX license identifier` };
    }
    if (allow.size > 0 && !allow.has(id)) {
      return { verdict: 'denied', reason: `${node.license} is not in the policy’s allow list` };
    }
    return { verdict: 'allowed', reason: `${node.license} is allowed` };
  };
  const evaluate = (node: SpdxNode): Leaf => {
    if ('license' in node) return leaf(node);
    const left = evaluate(node.left);
    const right = evaluate(node.right);
    const pick =
      node.conjunction === 'or'
        ? rank[left.verdict] >= rank[right.verdict]
        : rank[left.verdict] <= rank[right.verdict];
    return pick ? left : right;
  };
  const result = evaluate(tree);
  const identifiers = [...new Set(leaves(tree))];
  return {
    verdict: result.verdict,
    identifiers,
    deprecated: identifiers.filter((id) => deprecated.has(id.toLowerCase())),
    reason: result.reason,
  };
}

/** The same license, written differently (case, parentheses, order of a choice)? */
export function sameLicense(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return a === b;
  const canonical = (expression: string) => {
    try {
      const tree = parseSpdx(expression.trim());
      const render = (node: SpdxNode): string =>
        'license' in node
          ? `${node.license.toLowerCase()}${node.plus ? '+' : ''}${node.exception ? ` with ${node.exception.toLowerCase()}` : ''}`
          : `(${[render(node.left), render(node.right)].sort().join(` ${node.conjunction} `)})`;
      return render(tree);
    } catch {
      return expression.trim().toLowerCase();
    }
  };
  return canonical(a) === canonical(b);
}
