import { escapeHtml } from "../../domain/oauth/Html.js"
import type { ConsentPageData } from "../../services/oauth/AuthorizationFlow.js"

/**
 * One stylesheet for the consent and error pages, inline (the pages' CSP allows inline styles
 * and nothing else: no scripts, images or fonts). Readable from a 320px phone up: text at least
 * 14px, long unbroken client names and hosts wrap instead of scrolling sideways, buttons at
 * least 48px tall.
 */
const STYLE = `
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;padding:16px;background:#f4f5f7;color:#1d2430;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;-webkit-text-size-adjust:100%;text-size-adjust:100%}
main{max-width:460px;margin:48px auto;padding:28px;background:#fff;border:1px solid #e1e4e8;border-radius:12px;box-shadow:0 1px 3px rgba(16,24,40,.08);overflow-wrap:anywhere}
main>:last-child{margin-bottom:0}
.eyebrow{margin:0 0 8px;color:#5b6472;font-size:.875rem;font-weight:600;letter-spacing:.04em;text-transform:uppercase}
h1{margin:0 0 16px;font-size:1.375rem;font-weight:400;line-height:1.35}
h1 strong{font-weight:700}
p{margin:0 0 16px}
.notice{padding:10px 12px;background:#fff8e6;border:1px solid #f2d58a;border-radius:8px;font-size:.9375rem}
dl{margin:0 0 20px}
dt{margin-top:12px;color:#5b6472;font-size:.875rem;font-weight:600}
dd{margin:2px 0 0}
ul{margin:0;padding:0;list-style:none}
li{margin:4px 0 0}
code{padding:1px 6px;background:#eef0f3;border-radius:4px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:.9375em}
.actions{display:flex;gap:12px}
button{flex:1;min-height:48px;padding:12px 16px;border:1px solid #c6ccd5;border-radius:8px;background:#fff;color:#1d2430;font:inherit;font-weight:600;cursor:pointer}
button:hover{background:#f3f5f8}
button[value=approve]{background:#1f6feb;border-color:#1f6feb;color:#fff}
button[value=approve]:hover{background:#1a5fd0}
button:focus-visible{outline:3px solid rgba(31,111,235,.45);outline-offset:2px}
.muted{color:#5b6472;font-size:.9375rem}
@media (max-width:480px){body{padding:12px}main{margin:8px auto;padding:20px}h1{font-size:1.25rem}}
`

const head = (title: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style></head>`

/**
 * The consent page: names the client, where it redirects, the scopes and the provider. Every
 * client-supplied value is escaped; the form posts to `/consent` with the flow id and CSRF token.
 */
export const renderConsentPage = (page: ConsentPageData): string => {
  const scopes = page.scopes.length === 0
    ? "<li>(no scopes)</li>"
    : page.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join("")
  return `${head(`Authorize ${page.clientName}`)}
<body><main>
<p class="eyebrow">Sign-in request</p>
<h1>Allow <strong>${escapeHtml(page.clientName)}</strong> to use this MCP server?</h1>
${page.verifiedHost === undefined
  ? `<p class="notice">This application registered itself and is not known to the server's operator.
Continue only if you started this sign-in yourself.</p>`
  : `<p class="notice">This application is published by <strong class="verified-host">${escapeHtml(page.verifiedHost)}</strong>
(verified: its description was fetched from that site). The name above is what it calls itself.
Continue only if you trust ${escapeHtml(page.verifiedHost)} and started this sign-in yourself.</p>`}
<dl>
${page.verifiedHost === undefined ? "" : `<dt>Published by</dt><dd><strong>${escapeHtml(page.verifiedHost)}</strong></dd>`}
<dt>You sign in with</dt><dd><strong>${escapeHtml(page.providerName)}</strong></dd>
<dt>Then you are sent back to</dt><dd><code>${escapeHtml(page.redirectTarget)}</code></dd>
<dt>It asks for</dt><dd><ul>${scopes}</ul></dd>
<dt>Client id</dt><dd><code>${escapeHtml(page.clientId)}</code></dd>
</dl>
<form method="post" action="/consent">
<input type="hidden" name="flow" value="${escapeHtml(page.flowId)}">
<input type="hidden" name="csrf" value="${escapeHtml(page.csrfToken)}">
<div class="actions">
<button type="submit" name="decision" value="deny">Deny</button>
<button type="submit" name="decision" value="approve">Approve</button>
</div>
</form>
</main></body></html>`
}

/** A plain error page for errors shown by the server itself (no redirect). */
export const renderErrorPage = (title: string, message: string): string => `${head(title)}
<body><main>
<p class="eyebrow">Sign-in stopped</p>
<h1><strong>${escapeHtml(title)}</strong></h1>
<p>${escapeHtml(message)}</p>
<p class="muted">You can close this page and start the sign-in again from the application.</p>
</main></body></html>`
