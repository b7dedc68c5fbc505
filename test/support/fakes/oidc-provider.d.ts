/**
 * The parts of `oidc-provider` (no bundled types, no `@types` package installed) that the test
 * OpenID Provider (`OpenIdProvider.ts`) uses.
 */
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http"

  interface InteractionDetails {
    readonly uid: string
    readonly prompt: { readonly name: string; readonly details: Record<string, unknown> }
    readonly params: Record<string, unknown>
    readonly session?: { readonly accountId?: string } | undefined
    readonly grantId?: string | undefined
  }

  interface Grant {
    addOIDCScope(scope: string): void
    addOIDCClaims(claims: ReadonlyArray<string>): void
    addResourceScope(resource: string, scope: string): void
    save(): Promise<string>
  }

  interface GrantConstructor {
    new (options: { readonly accountId: string; readonly clientId: string }): Grant
    find(id: string): Promise<Grant | undefined>
  }

  export default class Provider {
    constructor(issuer: string, configuration: unknown)
    callback(): (req: IncomingMessage, res: ServerResponse) => void
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>
    interactionResult(
      req: IncomingMessage,
      res: ServerResponse,
      result: Record<string, unknown>,
      options?: { readonly mergeWithLastSubmission?: boolean }
    ): Promise<string>
    readonly Grant: GrantConstructor
  }
}
