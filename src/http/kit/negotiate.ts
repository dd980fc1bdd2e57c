import type { Context } from 'hono';
import { accepts } from 'hono/accepts';

/** Whether the client asked for HTML over JSON (a browser's `Accept`); `*` and no header mean JSON. */
export function prefersHtml(c: Context): boolean {
  return (
    accepts(c, {
      header: 'Accept',
      supports: ['application/json', 'application/problem+json', 'text/html'],
      default: 'application/json',
    }) === 'text/html'
  );
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text made safe inside HTML elements and quoted attributes. */
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (ch) => ESCAPES[ch] ?? ch);
