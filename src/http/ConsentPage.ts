import { escapeHtml } from "../domain/oauth/Html.js"
import type { ConsentPageData } from "../services/AuthorizationFlow.js"

const STYLE = `
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;margin:0;padding:16px;color:#1d2430}
main{max-width:440px;margin:40px auto;background:#fff;border-radius:12px;padding:24px;box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.25rem;margin:0 0 12px}
p{line-height:1.45}
ul{padding-left:20px}
code{background:#eef0f3;padding:1px 5px;border-radius:4px;word-break:break-all}
.row{display:flex;gap:12px;margin-top:20px}
button{flex:1;font-size:1rem;padding:12px;border-radius:8px;border:1px solid #c6ccd5;background:#fff;cursor:pointer}
button[value=approve]{background:#1f6feb;border-color:#1f6feb;color:#fff}
.muted{color:#5b6472;font-size:.9rem}
`

/** The consent page: names the client, where it redirects, the scopes and the provider. */
export const renderConsentPage = (page: ConsentPageData): string => {
  const scopes = page.scopes.length === 0 ? "<li>(no scopes)</li>" : page.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join("")
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorize ${escapeHtml(page.clientName)}</title>
<style>${STYLE}</style></head>
<body><main>
<h1>Allow <strong>${escapeHtml(page.clientName)}</strong> to use this MCP server?</h1>
<p>This application was registered dynamically and is not known to the server's operator.
Continue only if you started this sign-in yourself.</p>
<p>After you sign in with <strong>${escapeHtml(page.providerName)}</strong>, you will be sent back to
<code>${escapeHtml(page.redirectTarget)}</code>.</p>
<p>It asks for:</p><ul>${scopes}</ul>
<p class="muted">Client id: <code>${escapeHtml(page.clientId)}</code></p>
<form method="post" action="/consent">
<input type="hidden" name="flow" value="${escapeHtml(page.flowId)}">
<input type="hidden" name="csrf" value="${escapeHtml(page.csrfToken)}">
<div class="row">
<button type="submit" name="decision" value="deny">Deny</button>
<button type="submit" name="decision" value="approve">Approve</button>
</div>
</form>
</main></body></html>`
}

/** A plain error page for errors shown by the server itself (no redirect). */
export const renderErrorPage = (title: string, message: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></main></body></html>`
