// The admin console's trends (inline SVG charts of GET /_hs/admin/v1/server/stats) and its
// risky-settings banner (GET /_hs/admin/v1/server/warnings), in Chromium. A week of samples is
// written beforehand (as the server's sampler would have), plus one real sample.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { ensureWebBuilt } from "../../scripts/build-web.ts";
import { ServerStatsRepo, type StatsSampleRow } from "../../src/storage/repos/server-stats.ts";
import { registerUser } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { CHROMIUM, CHROMIUM_ARGS, haveChromium, watchedPage } from "./chromium.ts";

const SHOTS = process.env.HS_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), "hs-web-shots-"));
mkdirSync(SHOTS, { recursive: true });
const MB = 1024 * 1024;

describe.skipIf(!haveChromium)("web client: admin console trends and risky settings", () => {
  let s: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const errors: string[] = [];
  let page: Page;

  beforeAll(async () => {
    await ensureWebBuilt();
    // Open registration (no token, no CAPTCHA) and federation without TLS checks: both risky.
    s = await startTestServer({ config: { registration: { mode: "open" }, federation: { verify_tls: false } } });
    await registerUser(s, "root", "rootpassword", true);
    // A week of samples, one an hour, with a daily rhythm.
    const repo = new ServerStatsRepo(s.hs.db);
    const now = Date.now();
    for (let h = 7 * 24; h >= 1; h--) {
      const ts = now - h * 3_600_000;
      const hour = new Date(ts).getHours();
      const busy = hour >= 8 && hour <= 22 ? 1 : 0.2;
      const row: StatsSampleRow = {
        ts,
        users: 40 + Math.floor((7 * 24 - h) / 12),
        registrations: h % 12 === 0 ? 1 : 0,
        daily_active_users: Math.round(18 + 6 * busy),
        monthly_active_users: 35,
        rooms: 60,
        messages: Math.round(120 * busy),
        local_messages: Math.round(80 * busy),
        max_stream: 0,
        database_bytes: (200 + (7 * 24 - h) * 0.3) * MB,
        media_bytes: (80 + (7 * 24 - h) * 0.1) * MB,
        rss_bytes: (150 + 30 * busy) * MB,
        heap_bytes: (60 + 20 * busy) * MB,
        requests: Math.round(3000 * busy),
        latency_p50_us: 2500 + Math.round(1500 * busy),
        latency_p95_us: 25000 + Math.round(30000 * busy),
        federation_destinations: 12,
        federation_failing: h < 30 && h > 20 ? 3 : 1,
        federation_queue: h < 30 && h > 20 ? 40 : 0,
      };
      await repo.insert(row);
    }
    await s.hs.services.adminStats.sample();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await watchedPage(browser, contexts, errors, 1280, 1300);
    await page.goto(s.url);
    await page.getByLabel("User name").fill("root");
    await page.getByLabel("Password").fill("rootpassword");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("navigation", { name: "Rooms" }).waitFor();
  }, 60000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await s?.stop();
  });

  test("the overview charts a week of samples; the period switches to a day (per hour)", async () => {
    await page.getByRole("button", { name: "Admin console" }).click();
    const trends = page.getByRole("region", { name: "Trends" });
    await trends.waitFor();
    for (const title of ["Messages per day", "Registrations per day", "Active users", "Users and rooms", "Database and media", "Memory", "Requests per minute", "Latency (without /sync)", "Federation servers"]) {
      await trends.getByRole("img", { name: new RegExp(`^${title.replace(/[()/]/g, "\\$&")}: `) }).waitFor();
    }
    // Bars per day: a week's messages (7 × 24 hourly samples) are all there.
    const label = await trends.getByRole("img", { name: /^Messages per day: / }).getAttribute("aria-label");
    const total = Number(/: ([\d.]+k?) in all/.exec(label ?? "")?.[1]?.replace(/k$/, "e3") ?? NaN);
    expect(total).toBeGreaterThan(7000);
    expect(await trends.locator("rect.bar").count()).toBeGreaterThanOrEqual(7 + 7); // messages and registrations, a bar a day
    expect(await trends.locator("polyline").count()).toBeGreaterThanOrEqual(10);
    // The memory chart has the dashed target ([caches] memory_target_mb).
    expect(await trends.locator("polyline.dashed").count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, "admin-trends.png"), fullPage: true });
    await trends.getByRole("button", { name: "Day" }).click();
    await trends.getByRole("img", { name: /^Messages per hour: / }).waitFor();
    expect(await trends.locator("rect.bar").count()).toBeGreaterThan(20);
  }, 60000);

  test("the risky-settings banner lists what the server reports", async () => {
    const banner = page.getByRole("region", { name: "Risky settings" });
    await banner.waitFor();
    await banner.getByText("registration.mode", { exact: true }).waitFor();
    await banner.getByText("federation.verify_tls", { exact: true }).waitFor();
    expect(await banner.getByText(/Anyone can create an account/).count()).toBe(1);
    // It stays above the other pages too.
    await page.getByRole("link", { name: "Users" }).click();
    await page.getByRole("region", { name: "Risky settings" }).getByText("registration.mode", { exact: true }).waitFor();
    await page.getByRole("region", { name: "Risky settings" }).screenshot({ path: join(SHOTS, "admin-risky-settings.png") });
  });

  test("no script errors or CSP violations", () => {
    expect(errors).toEqual([]);
  });
});
