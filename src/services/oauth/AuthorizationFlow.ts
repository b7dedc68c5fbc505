import { Context } from "effect"
import type { Effect } from "effect"
import type { OAuthError } from "../../domain/oauth/Errors.js"
import type { AuthorizeRequest, CallbackQuery, ConsentForm } from "../../domain/oauth/Requests.js"

/** Request facts the flow needs besides the parameters. */
export interface FlowContext {
  /** External base URL (no trailing slash). */
  readonly base: string
  /** Value of the browser-binding cookie, if the browser sent one. */
  readonly bindingCookie: string | undefined
}

export interface ConsentPageData {
  readonly flowId: string
  readonly csrfToken: string
  readonly clientName: string
  readonly clientId: string
  /**
   * For a Client ID Metadata Document client: the host its document was fetched from (the one
   * identity the server verified; the name is self-declared).
   */
  readonly verifiedHost?: string | undefined
  readonly redirectTarget: string
  readonly scopes: ReadonlyArray<string>
  readonly providerName: string
}

/** What the HTTP layer should answer. */
export type FlowOutcome =
  /** An error shown by this server itself (no redirect): client or redirect URI not validated. */
  | { readonly _tag: "DirectError"; readonly error: OAuthError }
  /** 302; `bindingCookie` (when set) is the new browser-binding cookie value to set. */
  | { readonly _tag: "Redirect"; readonly location: string; readonly bindingCookie?: string | undefined }
  | { readonly _tag: "ConsentPage"; readonly page: ConsentPageData; readonly bindingCookie: string }

export declare namespace AuthorizationFlow {
  export interface Shape {
    /** `/authorize` (GET query or POST form). */
    readonly authorize: (request: AuthorizeRequest, ctx: FlowContext) => Effect.Effect<FlowOutcome>
    /** `/consent` form post. */
    readonly consent: (form: ConsentForm, ctx: FlowContext) => Effect.Effect<FlowOutcome>
    /** The upstream provider's redirect back to `<callback_path>`. */
    readonly callback: (query: CallbackQuery, ctx: FlowContext) => Effect.Effect<FlowOutcome>
  }
}

/** The browser side of the authorization code flow: authorize, consent, upstream callback. */
export class AuthorizationFlow extends Context.Tag("mxcp/AuthorizationFlow")<AuthorizationFlow, AuthorizationFlow.Shape>() {}
