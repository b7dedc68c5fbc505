import { Context } from "effect"
import type { SiteConfig } from "../../domain/config/SiteConfig.js"
import type { AuthConfig, UserConfig } from "../../domain/config/UserConfig.js"

/** What the command line (or an embedding app) says, layered over the config files. */
export interface ConfigOverrides {
  /** Folder to start the walk-up for `mxcp-site.yml` from. */
  readonly cwd: string
  /** `--config PATH`: wins over `MXCP_CONFIG`, which wins over `~/.mxcp/config.yml`. */
  readonly configPath?: string | undefined
  readonly profile?: string | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly transport?: "streamable-http" | "stdio" | undefined
  readonly stateless?: boolean | undefined
  readonly readonly?: boolean | undefined
  readonly sqlTools?: boolean | undefined
  readonly debug?: boolean | undefined
  /** Environment used for `${VAR}` and `MXCP_CONFIG`. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Home folder, for `~/.mxcp/config.yml`. */
  readonly homeDir: string
}

/** Effective server settings: config files with flags applied. */
export interface ServeSettings {
  readonly host: string
  readonly port: number
  readonly transport: "streamable-http" | "stdio"
  readonly scheme: "http" | "https"
  /**
   * `scheme` was set in the config, so forwarded headers never change it. Absent (settings built
   * by hand): only an `https` scheme counts as set.
   */
  readonly schemeFromConfig?: boolean
  readonly baseUrl: string | null
  readonly trustProxy: boolean
  readonly stateless: boolean
  readonly readonly: boolean
  readonly sqlTools: boolean
  readonly exposeExternalToken: boolean
  readonly debug: boolean
}

export declare namespace AppConfig {
  export interface Shape {
    /** Absolute folder holding `mxcp-site.yml`. */
    readonly projectRoot: string
    /** Absolute path of `mxcp-site.yml`. */
    readonly siteFile: string
    /** Absolute path of the user config, or null when none exists (defaults apply). */
    readonly userFile: string | null
    readonly site: SiteConfig
    readonly user: UserConfig
    /** The selected profile name (`--profile` > site `profile` > `default`). */
    readonly profile: string
    /** Auth for this project and profile; `{provider: "none"}` when not configured. */
    readonly auth: AuthConfig
    /** DuckDB file: absolute path, or `:memory:`. */
    readonly duckdb: {
      readonly path: string
      readonly readonly: boolean
      /** Absolute path of an idempotent SQL script run at startup (`duckdb.init_sql`). */
      readonly initSql?: string | undefined
      /** DuckDB worker threads (`duckdb.threads`); undefined: the server's default. */
      readonly threads?: number | undefined
    }
    readonly serve: ServeSettings
    /** Non-fatal notes (keys accepted but not implemented, ...), each naming file and key. */
    readonly warnings: ReadonlyArray<string>
  }
}

/** The decoded site config + user config for the selected project and profile. */
export class AppConfig extends Context.Tag("mxcp/AppConfig")<AppConfig, AppConfig.Shape>() {}
