import type { ServeSettings } from "../../src/services/config/AppConfig.js"

/** Server settings as the defaults give them (loopback, port 8000, auth-independent), with overrides. */
export const serveSettings = (overrides: Partial<ServeSettings> = {}): ServeSettings => ({
  host: "127.0.0.1",
  port: 8000,
  transport: "streamable-http",
  scheme: "http",
  baseUrl: null,
  trustProxy: false,
  stateless: false,
  readonly: false,
  sqlTools: false,
  exposeExternalToken: false,
  debug: false,
  ...overrides
})
