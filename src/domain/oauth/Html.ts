/**
 * HTML escaping for the consent and error pages. Every piece of client- or provider-supplied text
 * (client name, redirect host, scopes, upstream error text) goes through `escapeHtml` before it is
 * placed in element content or a quoted attribute value.
 */

const replacements: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  "\"": "&quot;",
  "'": "&#39;",
  "`": "&#96;"
}

/** Escapes `& < > " '` and backtick. Safe for element content and quoted attribute values. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"'`]/g, (c) => replacements[c] ?? c)
