/**
 * The three upstream fakes behind one provider name, for harnesses that serve any of them:
 * `startFakeProvider("atlassian", options)` and the `auth.<provider>` block pointing at a fake.
 */
import { Effect, type Scope } from "effect"
import { type FakeAtlassianOptions, type RunningFakeAtlassian, startFakeAtlassian } from "./FakeAtlassian.js"
import { type FakeGitHubOptions, type RunningFakeGitHub, startFakeGitHub } from "./FakeGitHub.js"
import { type FakeSalesforceOptions, type RunningFakeSalesforce, startFakeSalesforce } from "./FakeSalesforce.js"

export type FakeProviderName = "github" | "atlassian" | "salesforce"

export interface FakeProviderOptions {
  readonly github: FakeGitHubOptions
  readonly atlassian: FakeAtlassianOptions
  readonly salesforce: FakeSalesforceOptions
}

export interface RunningFakeProvider {
  readonly github: RunningFakeGitHub
  readonly atlassian: RunningFakeAtlassian
  readonly salesforce: RunningFakeSalesforce
}

/**
 * What a config block needs from any fake: the app's credentials and the URL keys of its provider
 * (`auth_url`, `token_url`, and `api_url` for GitHub and Atlassian; Salesforce takes the user from
 * the token answer's `id` URL).
 */
export interface FakeApp {
  readonly clientId: string
  readonly clientSecret: string
  readonly config: Readonly<Record<string, string>>
}

const starters: { readonly [P in FakeProviderName]: (options: FakeProviderOptions[P]) => Promise<RunningFakeProvider[P]> } = {
  github: startFakeGitHub,
  atlassian: startFakeAtlassian,
  salesforce: startFakeSalesforce
}

/** Start `provider`'s fake on 127.0.0.1 (a free port). Call `stop()` when done. */
export const startFakeProvider = <P extends FakeProviderName>(
  provider: P,
  options: FakeProviderOptions[P]
): Promise<RunningFakeProvider[P]> => starters[provider](options)

/** The `auth.<provider>` block for `fake` (upstream timeout 3 s); `clientSecret` as given, e.g. `${VAR}`. */
export const fakeProviderBlock = (fake: FakeApp, clientSecret: string = fake.clientSecret): Record<string, string | number> => ({
  client_id: fake.clientId,
  client_secret: clientSecret,
  ...fake.config,
  timeout: 3
})

/** `provider`'s fake as a scoped resource: started on acquire, stopped when the scope closes. */
export const scopedFakeProvider = <P extends FakeProviderName>(
  provider: P,
  options: FakeProviderOptions[P]
): Effect.Effect<RunningFakeProvider[P], never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startFakeProvider(provider, options)),
    (fake) => Effect.promise(() => fake.stop())
  )
