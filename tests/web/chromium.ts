// Debian's Chromium driven by playwright-core, for the web client's browser tests: where it is, how
// it is started, and a page that records every script error, CSP violation and native dialog.
import { existsSync } from "node:fs";
import type { Browser, BrowserContext, Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** CI installs Chromium (.ci/run); a developer machine without it skips the browser tests. */
export const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: install Debian's chromium`);

/** A new page in its own context; script errors, CSP violations and native dialogs go to `errors`. */
export async function watchedPage(browser: Browser, contexts: BrowserContext[], errors: string[], width = 1280, height = 800): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width, height }, colorScheme: "light", deviceScaleFactor: 1 });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  page.on("dialog", (d) => {
    errors.push(`native ${d.type()} dialog: ${d.message()}`); // the client uses its own dialogs
    void d.dismiss();
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    // CSP violations and script errors show up as console errors.
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return page;
}
