// The built-in web client in Chromium, measured: bundle sizes (web/dist/hs-web.json), a signed-in
// reload's first contentful paint, the first /sync on screen, the crypto unlocked (the device's
// OlmMachine open: performance mark "hs:crypto-ready") and an encrypted message decrypted on screen,
// and the page's JavaScript heap (after a forced GC) while a session with ROOMS rooms runs for
// MINUTES minutes with messages arriving (every few seconds, in random rooms) and the user moving
// between rooms. Prints `name value` lines and a JSON summary.
//   bun bench/web-client.ts [rooms=50] [minutes=10] [reloads=5]
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { ensureWebBuilt } from "../scripts/build-web.ts";
import { registerUser } from "../tests/helpers/client.ts";
import { startTestServer } from "../tests/helpers/server.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "../tests/web/chromium.ts";

const ROOMS = Number(process.argv[2] ?? 50);
const MINUTES = Number(process.argv[3] ?? 10);
const RELOADS = Number(process.argv[4] ?? 5);
const ENCRYPTED = Math.min(5, ROOMS);
const enc = encodeURIComponent;
const KiB = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const MiB = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
const out: Record<string, string> = {};
const put = (k: string, v: string) => {
  out[k] = v;
  console.log(`${k} ${v}`);
};

await ensureWebBuilt();
const marker = JSON.parse(readFileSync("web/dist/hs-web.json", "utf8")) as { files: Array<{ name: string; raw: number; gzip: number; brotli: number }> };
const size = (re: RegExp, k: "raw" | "gzip" | "brotli") => marker.files.filter((f) => re.test(f.name)).reduce((a, f) => a + f[k], 0);
const first = /^(index\.html|assets\/main-[^/]+\.(js|css))$/;
put("bundle.first_load.brotli", KiB(size(first, "brotli")));
put("bundle.first_load.gzip", KiB(size(first, "gzip")));
put("bundle.first_load.raw", KiB(size(first, "raw")));
put("bundle.crypto_js.brotli", KiB(size(/^assets\/crypto-.*\.js$/, "brotli")));
put("bundle.crypto_wasm.brotli", KiB(size(/^assets\/crypto-.*\.wasm$/, "brotli")));
put("bundle.crypto_wasm.raw", KiB(size(/^assets\/crypto-.*\.wasm$/, "raw")));
for (const f of marker.files) if (/^assets\/(?!main-|crypto-).*\.js$/.test(f.name)) put(`bundle.chunk.${f.name.replace(/^assets\/|-[a-z0-9]+\.js$/g, "").replace(/^index$/, "admin-console")}.brotli`, KiB(f.brotli));

const s = await startTestServer({});
const alice = await registerUser(s, "alice", "alice-password");
const bob = await registerUser(s, "bob");
let txn = 0;
const say = (roomId: string, body: string) => bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/b${++txn}`, { msgtype: "m.text", body });
const rooms: string[] = [];
const t0 = Date.now();
for (let i = 0; i < ROOMS; i++) {
  const encrypted = i < ENCRYPTED;
  const roomId = (
    await bob.ok("POST", "/_matrix/client/v3/createRoom", {
      name: `Room ${String(i).padStart(2, "0")}`,
      preset: "private_chat",
      invite: [alice.userId],
      ...(encrypted ? { initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }] } : {}),
    })
  ).room_id as string;
  await alice.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
  if (!encrypted) for (let m = 0; m < 20; m++) await say(roomId, `Message ${m} in room ${i}: ${"lorem ipsum dolor sit amet ".repeat(1 + (m % 4))}`);
  rooms.push(roomId);
}
put("setup.seconds", String(Math.round((Date.now() - t0) / 1000)));

const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await ctx.newPage();
page.setDefaultTimeout(30000);
const errors: string[] = [];
page.on("pageerror", (e) => errors.push(e.message));
await page.goto(s.url);
await page.getByLabel("User name").fill("alice");
await page.getByLabel("Password").fill("alice-password");
await page.getByRole("button", { name: "Sign in" }).click();
await page.getByRole("navigation", { name: "Rooms" }).waitFor();
await page.waitForFunction(() => performance.getEntriesByName("hs:crypto-ready").length > 0, undefined, { timeout: 60000 });
// An encrypted message of alice's own, to be decrypted after each reload.
const encRoom = rooms[0]!;
await page.goto(`${s.url}/room/${enc(encRoom)}`);
await page.getByRole("textbox", { name: /^Message / }).fill("A secret for the benchmark");
await page.getByRole("textbox", { name: /^Message / }).press("Enter");
for (;;) {
  const chunk = (await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(encRoom)}/messages?dir=b&limit=5`)).chunk as Array<{ type: string; sender: string }>;
  if (chunk.some((e) => e.type === "m.room.encrypted" && e.sender === alice.userId)) break;
  await Bun.sleep(200);
}

// Reloads of a signed-in session with the encrypted room open.
const runs: Array<Record<string, number>> = [];
for (let i = 0; i < RELOADS; i++) {
  await page.reload();
  await page.waitForFunction(() => Array.from(document.querySelectorAll(".msg")).some((e) => e.textContent?.includes("A secret for the benchmark")), undefined, { timeout: 60000 });
  runs.push(
    await page.evaluate(() => {
      const at = (n: string) => performance.getEntriesByName(n)[0]?.startTime ?? -1;
      const res = performance.getEntriesByType("resource") as PerformanceResourceTiming[];
      return {
        fcp: at("first-contentful-paint"),
        firstSync: at("hs:first-sync"),
        cryptoRequested: Math.min(...res.filter((r) => /\/assets\/crypto-/.test(r.name)).map((r) => r.startTime)),
        cryptoReady: at("hs:crypto-ready"),
        decrypted: performance.now(),
      };
    }),
  );
}
const stat = (k: string) => {
  const v = runs.map((r) => r[k]!).sort((a, b) => a - b);
  return `${Math.round(v[Math.floor(v.length / 2)]!)} ms (median; ${Math.round(v[0]!)}–${Math.round(v[v.length - 1]!)})`;
};
put("reload.first_contentful_paint", stat("fcp"));
put("reload.first_sync_on_screen", stat("firstSync"));
put("reload.crypto_requested", stat("cryptoRequested"));
put("reload.crypto_ready", stat("cryptoReady"));
put("reload.encrypted_message_decrypted", stat("decrypted"));
put("reload.crypto_after_first_paint", String(runs.every((r) => r.cryptoRequested! > r.fcp!)));

// The long session: messages arrive, the user moves between rooms.
const cdp = await ctx.newCDPSession(page);
const heap = async () => {
  await cdp.send("HeapProfiler.collectGarbage");
  const m = (await cdp.send("Performance.getMetrics")).metrics as Array<{ name: string; value: number }>;
  const get = (n: string) => m.find((x) => x.name === n)?.value ?? 0;
  return { used: get("JSHeapUsedSize"), total: get("JSHeapTotalSize"), nodes: get("Nodes") };
};
await cdp.send("Performance.enable");
await page.goto(s.url);
await page.getByRole("navigation", { name: "Rooms" }).waitFor();
await page.waitForFunction(() => performance.getEntriesByName("hs:crypto-ready").length > 0, undefined, { timeout: 60000 });
const start = await heap();
put("session.heap_at_start", `${MiB(start.used)} (DOM nodes ${start.nodes})`);
const samples: Array<{ minute: number; used: number; nodes: number }> = [];
const end = Date.now() + MINUTES * 60_000;
let sent = 0;
let visits = 0;
let nextSample = Date.now() + 60_000;
while (Date.now() < end) {
  const r = rooms[ENCRYPTED + Math.floor(Math.random() * (rooms.length - ENCRYPTED))]!;
  await say(r, `Live message ${sent++} ${"the quick brown fox ".repeat(1 + (sent % 5))}`);
  if (sent % 10 === 0) {
    // Open a room (its timeline, members, read receipts), as a user would.
    await page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: new RegExp(`Room ${String(Math.floor(Math.random() * rooms.length)).padStart(2, "0")}`) }).first().click();
    visits++;
  }
  if (Date.now() >= nextSample) {
    const h = await heap();
    samples.push({ minute: Math.round((Date.now() - (end - MINUTES * 60_000)) / 60_000), used: h.used, nodes: h.nodes });
    console.log(`session.minute_${samples.length} heap ${MiB(h.used)} nodes ${h.nodes}`);
    nextSample += 60_000;
  }
  await Bun.sleep(2000);
}
const last = await heap();
put("session.minutes", String(MINUTES));
put("session.messages_received", String(sent));
put("session.rooms_opened", String(visits));
put("session.heap_at_end", `${MiB(last.used)} (DOM nodes ${last.nodes})`);
put("session.heap_max_sampled", MiB(Math.max(last.used, ...samples.map((x) => x.used))));
put("session.page_errors", String(errors.length));
console.log(JSON.stringify({ figures: out, runs, samples }, null, 1));
await browser.close();
await s.stop();
process.exit(0);
