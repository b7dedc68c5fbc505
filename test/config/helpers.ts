import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Either } from "effect"
import { type ConfigError, formatConfigError } from "../../src/domain/config/ConfigError.js"
import { loadAppConfig } from "../../src/layers/config/AppConfigLive.js"
import type { ConfigOverrides } from "../../src/services/config/AppConfig.js"

/** A fresh temp folder, removed when the scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "mxcp-config-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** Writes `text` to `dir/name` (creating parent folders) and returns the absolute path. */
export const write = (dir: string, name: string, text: string): string => {
  const file = path.join(dir, name)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, text)
  return file
}

/** A project folder with `mxcp-site.yml` and an (empty) home folder beside it. */
export const project = (root: string, site: string) => {
  const projectDir = path.join(root, "project")
  const homeDir = path.join(root, "home")
  fs.mkdirSync(homeDir, { recursive: true })
  write(projectDir, "mxcp-site.yml", site)
  return { projectDir, homeDir }
}

/** Writes the user config into `<home>/.mxcp/config.yml`. */
export const writeUserConfig = (homeDir: string, text: string): string => write(homeDir, ".mxcp/config.yml", text)

export const overrides = (
  cwd: string,
  homeDir: string,
  extra: Partial<ConfigOverrides> = {}
): ConfigOverrides => ({ cwd, homeDir, env: {}, ...extra })

/** Loads and expects a failure; returns the error. */
export const loadError = (o: ConfigOverrides): Effect.Effect<ConfigError> =>
  Effect.flatMap(Effect.either(loadAppConfig(o)), (r) =>
    Either.isLeft(r) ? Effect.succeed(r.left) : Effect.dieMessage("expected the config to fail"))

export { formatConfigError }

export const SiteMinimal = "mxcp: 1\nproject: demo\n"

/** The user config of the README's GitHub example (profile `dev` of `my_project`). */
export const GitHubExampleUserConfig = `projects:
  my_project:
    profiles:
      dev:
        auth:
          provider: github
          clients:
            - client_id: "\${GITHUB_CLIENT_ID}"
              client_secret: "\${GITHUB_CLIENT_SECRET}"
              name: "My MXCP Application"
              redirect_uris:
                - "http://localhost:8000/github/callback"
              scopes:
                - "mxcp:access"
          github:
            client_id: "\${GITHUB_CLIENT_ID}"
            client_secret: "\${GITHUB_CLIENT_SECRET}"
            scope: "user:email"
            callback_path: "/github/callback"
            auth_url: "https://github.com/login/oauth/authorize"
            token_url: "https://github.com/login/oauth/access_token"
`
