/**
 * Headless Chromium for browser tests: Debian's `/usr/bin/chromium` driven by `playwright-core`
 * (never a downloaded browser). Playwright starts it with a fresh temporary profile (user data
 * dir) on every launch; the flags keep it off the network (this machine's network is closed, and
 * background fetches would only be refused) and quiet. Also: the viewports the tests render at,
 * a screenshot path under `test-results/`, and a readability probe of the current page.
 */
import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { type Browser, type BrowserContextOptions, chromium, type Page } from "playwright-core"
import { repoRoot } from "./Project.js"

export const CHROMIUM_PATH = "/usr/bin/chromium"

export const CHROMIUM_FLAGS: ReadonlyArray<string> = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/**
 * Launch Chromium once (per test file); close it in `afterAll`. `extraArgs` add flags, e.g.
 * `--host-resolver-rules=MAP app.test 127.0.0.1` for pages on a name of their own.
 */
export const launchChromium = (extraArgs: ReadonlyArray<string> = []): Promise<Browser> =>
  !existsSync(CHROMIUM_PATH)
    ? Promise.reject(new Error(`Chromium is not installed (${CHROMIUM_PATH}): apt-get install chromium (.ci/run does)`))
    : chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      chromiumSandbox: false,
      args: [...CHROMIUM_FLAGS, ...extraArgs],
      timeout: 30_000
    })

/** A laptop-sized window. */
export const DESKTOP: BrowserContextOptions = {
  viewport: { width: 1280, height: 800 },
  deviceScaleFactor: 1
}

/** A phone (iPhone 12-15 class): 390x844 CSS pixels, touch, mobile viewport handling. */
export const PHONE: BrowserContextOptions = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true
}

/** `test-results/<name>` (the folder created), where CI keeps test artifacts. */
export const artifactPath = (name: string): string => {
  const dir = join(repoRoot, "test-results")
  mkdirSync(dir, { recursive: true })
  return join(dir, name)
}

export interface Readability {
  readonly innerWidth: number
  readonly innerHeight: number
  /** `document.documentElement.scrollWidth`: wider than `innerWidth` means horizontal scrolling. */
  readonly scrollWidth: number
  /** Visible elements with their own text whose computed font size is under `minFontPx`. */
  readonly smallText: ReadonlyArray<{ readonly tag: string; readonly text: string; readonly fontSize: number }>
}

/** Measure the page as rendered: horizontal overflow and text smaller than `minFontPx` CSS pixels. */
export const readability = (page: Page, minFontPx = 14): Promise<Readability> =>
  page.evaluate((min) => {
    const smallText: Array<{ tag: string; text: string; fontSize: number }> = []
    for (const el of Array.from(document.body.querySelectorAll("*"))) {
      const ownText = Array.from(el.childNodes)
        .filter((n) => n.nodeType === Node.TEXT_NODE)
        .map((n) => n.textContent ?? "")
        .join("")
        .trim()
      if (ownText === "") continue
      const style = getComputedStyle(el)
      if (style.display === "none" || style.visibility === "hidden") continue
      const fontSize = parseFloat(style.fontSize)
      if (fontSize < min) smallText.push({ tag: el.tagName.toLowerCase(), text: ownText.slice(0, 40), fontSize })
    }
    return {
      innerWidth: window.innerWidth,
      innerHeight: window.innerHeight,
      scrollWidth: document.documentElement.scrollWidth,
      smallText
    }
  }, minFontPx)
