// End-to-end encryption in the web client (Chromium), against matrix-js-sdk with its Rust crypto
// standing in for Element: an encrypted direct chat both ways (on one server and across two
// federating servers), attachments, a new DM encrypted by default, turning encryption on in room
// settings, a new Megolm session after a member leaves, "waiting for keys", the device and its keys
// surviving a reload, one tab per device, signing in again reusing the device, signing out deleting
// its keys, recovery (cross-signing, secret storage, key backup) set up here and used by a new
// browser and by js-sdk, SAS verification with emoji, and trust shields. It also measures what the
// issue asks for (first paint, the crypto loaded after it, time to an unlocked encrypted room, JS
// heap) and prints the figures. Any script error or CSP violation fails it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MatrixClient } from "matrix-js-sdk";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { sasFromSdk } from "./sas.ts";
import { ensureWebBuilt } from "../../scripts/build-web.ts";
import { decodeRecoveryKey } from "matrix-js-sdk/lib/crypto-api/recovery-key.js";
import { CryptoEvent } from "matrix-js-sdk/lib/crypto-api/CryptoEvent.js";
import { VerificationPhase, VerifierEvent } from "matrix-js-sdk/lib/crypto-api/verification.js";
import { loginUser, registerUser, type TestClient } from "../helpers/client.ts";
import { startFederatingServers, startTestServer, type FederatingServer, type TestServer } from "../helpers/server.ts";
import { cryptoClient, decryptedBody, quietCryptoLogs, waitFor } from "../e2ee/sdk-crypto.ts";
import { CHROMIUM, CHROMIUM_ARGS, haveChromium, watchedPage } from "./chromium.ts";

quietCryptoLogs();
const SHOTS = process.env.HS_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), "hs-web-shots-"));
mkdirSync(SHOTS, { recursive: true });
const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`) });
const enc = encodeURIComponent;
/** A 4×4 PNG. */
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGM4YWQERwzEcQDxIxLBm7UkwAAAAABJRU5ErkJggg==", "base64");

interface EncryptedFile {
  url: string;
  key: { k: string; alg: string; kty: string; ext: boolean; key_ops: string[] };
  iv: string;
  hashes: { sha256: string };
  v: string;
}

const unb64 = (s: string) => Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64");
const b64 = (b: ArrayBuffer | Uint8Array) => Buffer.from(b as ArrayBuffer).toString("base64").replace(/=+$/, "");

/** Decrypts an attachment as the spec says (AES-CTR-256, SHA-256 of the ciphertext checked). */
async function decryptFile(data: Uint8Array, f: EncryptedFile): Promise<Uint8Array> {
  expect(b64(await crypto.subtle.digest("SHA-256", data as BufferSource))).toBe(f.hashes.sha256.replace(/=+$/, ""));
  const key = await crypto.subtle.importKey("raw", unb64(f.key.k), "AES-CTR", false, ["decrypt"]);
  return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-CTR", counter: unb64(f.iv), length: 64 }, key, data as BufferSource));
}

/** Encrypts an attachment as Element does. */
async function encryptFile(plain: Uint8Array): Promise<{ data: Uint8Array; file: Omit<EncryptedFile, "url"> }> {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const iv = new Uint8Array(16);
  iv.set(crypto.getRandomValues(new Uint8Array(8)));
  const key = await crypto.subtle.importKey("raw", raw, "AES-CTR", true, ["encrypt"]);
  const data = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-CTR", counter: iv, length: 64 }, key, plain as BufferSource));
  const k = Buffer.from(raw).toString("base64url");
  return { data, file: { key: { k, alg: "A256CTR", kty: "oct", ext: true, key_ops: ["encrypt", "decrypt"] }, iv: b64(iv), hashes: { sha256: b64(await crypto.subtle.digest("SHA-256", data as BufferSource)) }, v: "v2" } };
}

const ENCRYPTION = { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } };

describe.skipIf(!haveChromium)("web client end-to-end encryption with a matrix-js-sdk (Rust crypto) client", () => {
  let s: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const started: MatrixClient[] = [];
  const errors: string[] = [];
  let page: Page;
  let aliceApi: TestClient; // alice through the API (another device, without keys), to look at what the server has
  let bobUser: TestClient;
  let bob: MatrixClient;
  let dmRoom = "";
  let recoveryKey = "";
  let sdkAlice: MatrixClient;
  const figures: Record<string, string> = {};

  /** The web client's session (user ID, device ID) from its localStorage. */
  const session = async () => JSON.parse((await page.evaluate(() => localStorage.getItem("hs.session"))) ?? "null") as { userId: string; deviceId: string } | null;

  /** Alice's device keys as the server has them. */
  async function aliceDeviceKeys(): Promise<Record<string, { keys: Record<string, string> }>> {
    const r = await bobUser.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { "@alice:localhost": [] } });
    return r.device_keys["@alice:localhost"] ?? {};
  }

  async function signIn() {
    await page.getByLabel("User name").fill("alice");
    await page.getByLabel("Password").fill("alice-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("navigation", { name: "Rooms" }).waitFor();
  }

  /** The raw (encrypted) events of a room as the server stores them. */
  async function wireEvents(roomId: string): Promise<Array<{ type: string; event_id: string; content: Record<string, unknown> }>> {
    const r = await bobUser.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`);
    return r.chunk;
  }

  beforeAll(async () => {
    await ensureWebBuilt();
    s = await startTestServer();
    aliceApi = await registerUser(s, "alice", "alice-password");
    bobUser = await registerUser(s, "bob", "bob-password");
    bob = await cryptoClient(s, bobUser, started);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, "--enable-precise-memory-info"] });
  }, 60000);

  afterAll(async () => {
    for (const c of started) c.stopClient();
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await s?.stop();
    console.log(`web client e2ee figures: ${JSON.stringify(figures, null, 1)}\nscreenshots: ${SHOTS}`);
  });

  test("the sign-in page paints without the crypto; signing in loads it after the first paint and uploads device keys", async () => {
    page = await watchedPage(browser, contexts, errors);
    await page.goto(s.url);
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    const before = await page.evaluate(() => ({
      fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? -1,
      crypto: performance.getEntriesByType("resource").filter((r) => /\/assets\/crypto-/.test(r.name)).length,
      transferred: performance.getEntriesByType("resource").reduce((a, r) => a + ((r as PerformanceResourceTiming).transferSize ?? 0), 0),
    }));
    expect(before.fcp).toBeGreaterThan(0);
    expect(before.crypto).toBe(0); // nothing of the crypto before signing in
    figures["sign-in page first contentful paint"] = `${Math.round(before.fcp)} ms`;
    await signIn();
    const keys = await waitFor(async () => {
      const k = await aliceDeviceKeys();
      return Object.keys(k).length ? k : undefined;
    }, "the web client's device keys");
    const me = (await session())!;
    expect(Object.keys(keys)).toEqual([me.deviceId]);
    expect(keys[me.deviceId]!.keys[`ed25519:${me.deviceId}`]).toBeTruthy();
    // One-time keys are uploaded too (the machine tops them up from /sync's counts).
    const claimed = await bobUser.ok("POST", "/_matrix/client/v3/keys/claim", { one_time_keys: { [me.userId]: { [me.deviceId]: "signed_curve25519" } } });
    expect(Object.keys(claimed.one_time_keys[me.userId]?.[me.deviceId] ?? {})[0]).toMatch(/^signed_curve25519:/);
  }, 40000);

  test("js-sdk → web: an encrypted direct chat from bob's client decrypts in the web client", async () => {
    const { room_id } = await bob.createRoom({ preset: "trusted_private_chat" as never, is_direct: true, invite: ["@alice:localhost"], initial_state: [ENCRYPTION] });
    dmRoom = room_id;
    await page.getByRole("region", { name: "Invites" }).getByRole("link", { name: /bob/ }).click();
    await page.getByRole("button", { name: "Accept" }).click();
    await waitFor(() => (bob.getRoom(dmRoom)?.getMember("@alice:localhost")?.membership === "join" ? true : undefined), "alice's join seen by bob");
    await bob.sendTextMessage(dmRoom, "Hello from the js-sdk, encrypted");
    await page.locator(".msg", { hasText: "Hello from the js-sdk, encrypted" }).waitFor({ timeout: 20000 });
    expect(await page.locator("[data-e2e]").count()).toBe(0); // nothing left undecrypted
    await page.getByText("Messages in this room are end-to-end encrypted").waitFor();
  }, 40000);

  test("web → js-sdk: the web client's reply decrypts in bob's client; the server saw only ciphertext", async () => {
    const box = page.getByRole("textbox", { name: /^Message / });
    await box.fill("Hello back from the web client");
    await box.press("Enter");
    const ev = await waitFor(() => decryptedBody(bob, dmRoom, "Hello back from the web client"), "bob decrypting the web client's message");
    expect(ev.getSender()).toBe("@alice:localhost");
    expect(ev.getWireType()).toBe("m.room.encrypted");
    expect(ev.getWireContent().device_id).toBe((await session())!.deviceId);
    expect(JSON.stringify(await wireEvents(dmRoom))).not.toContain("Hello back");
  }, 40000);

  test("encrypted attachments both ways: the server stores only ciphertext", async () => {
    // The web client sends an image: uploaded encrypted, the key inside the encrypted event.
    await page.locator('input[type="file"]').setInputFiles({ name: "dot.png", mimeType: "image/png", buffer: PNG });
    await page.getByRole("button", { name: "Send", exact: true }).first().click();
    const ev = await waitFor(() => {
      const e = bob.getRoom(dmRoom)?.getLiveTimeline().getEvents().find((x) => x.getContent().body === "dot.png");
      return e && !e.isBeingDecrypted() ? e : undefined;
    }, "bob decrypting the image event");
    const file = ev.getContent().file as EncryptedFile;
    expect(ev.getContent().url).toBeUndefined();
    expect(file.url).toMatch(/^mxc:\/\//);
    const download = await fetch(`${s.url}/_matrix/client/v1/media/download/${file.url.slice(6)}`, { headers: { Authorization: `Bearer ${bobUser.accessToken}` } });
    const stored = new Uint8Array(await download.arrayBuffer());
    expect(Buffer.from(stored).equals(PNG)).toBe(false);
    expect(Buffer.from(await decryptFile(stored, file)).equals(PNG)).toBe(true);

    // Bob sends an encrypted image: the web client downloads, decrypts and shows it.
    const { data, file: bobFile } = await encryptFile(PNG);
    const up = (await bobUser.request("POST", "/_matrix/media/v3/upload?filename=bobdot.png", data, { "Content-Type": "application/octet-stream" })).body;
    await bob.sendMessage(dmRoom, { msgtype: "m.image", body: "bobdot.png", info: { mimetype: "image/png", w: 4, h: 4, size: PNG.length }, file: { ...bobFile, url: up.content_uri, mimetype: "image/png" } } as never);
    await page.getByRole("img", { name: "bobdot.png" }).waitFor({ timeout: 20000 });
    await page.waitForFunction(() => {
      const i = document.querySelector<HTMLImageElement>('img[alt="bobdot.png"]');
      return !!i && i.complete && i.naturalWidth === 4;
    });
    await page.mouse.move(5, 5);
    await shot(page, "e2ee-dm");
  }, 40000);

  test("a new direct chat started in the web client is encrypted by default, and bob reads it", async () => {
    // A second DM with bob would reuse the first one: carol (an sdk client too) gets the new one.
    const carolUser = await registerUser(s, "carol");
    const carol = await cryptoClient(s, carolUser, started);
    await page.getByRole("button", { name: "Start a direct chat" }).click();
    await page.getByRole("dialog", { name: "Start a direct chat" }).getByLabel("User ID").fill("@carol:localhost");
    await page.getByRole("button", { name: "Start chat" }).click();
    const box = page.getByRole("textbox", { name: /^Message .*carol/ }); // the new room's composer, not the previous one's
    await box.fill("Carol, this one is encrypted from the start");
    await box.press("Enter");
    await page.locator(".msg", { hasText: "Carol, this one is encrypted" }).waitFor();
    const roomId = decodeURIComponent(new URL(page.url()).pathname.split("/").pop()!);
    await waitFor(() => (carol.getRoom(roomId)?.getMyMembership() === "invite" ? true : undefined), "carol's invite");
    await carol.joinRoom(roomId);
    expect((await carolUser.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.encryption/`)).algorithm).toBe("m.megolm.v1.aes-sha2");
    await waitFor(() => decryptedBody(carol, roomId, "Carol, this one is encrypted from the start"), "carol decrypting the web client's DM");
  }, 60000);

  test("a member leaving: the web client's next message uses a new Megolm session", async () => {
    const carol = started[started.length - 1]!;
    const { room_id: roomId } = await bob.createRoom({ preset: "private_chat" as never, name: "Planning", invite: ["@alice:localhost", "@carol:localhost"], initial_state: [ENCRYPTION] });
    await waitFor(() => (carol.getRoom(roomId)?.getMyMembership() === "invite" ? true : undefined), "carol's invite");
    await carol.joinRoom(roomId);
    await page.getByRole("region", { name: "Invites" }).getByRole("link", { name: /Planning/ }).click();
    await page.getByRole("button", { name: "Accept" }).click();
    const box = page.getByRole("textbox", { name: "Message Planning" });
    await box.fill("First plan, for all three");
    await box.press("Enter");
    await waitFor(() => decryptedBody(carol, roomId, "First plan, for all three"), "carol decrypting the first plan");
    await carol.leave(roomId);
    await page.getByText(/carol left/).waitFor();
    await box.fill("Second plan, without carol");
    await box.press("Enter");
    await waitFor(() => decryptedBody(bob, roomId, "Second plan, without carol"), "bob decrypting the second plan");
    const sessions = (await wireEvents(roomId)).filter((e) => e.type === "m.room.encrypted").map((e) => e.content.session_id);
    expect(sessions.length).toBe(2);
    expect(sessions[0]).not.toBe(sessions[1]);
  }, 60000);

  test("room settings: turning on encryption in a room; bob reads the next message", async () => {
    const { room_id: roomId } = await bob.createRoom({ preset: "private_chat" as never, name: "Open plans", invite: ["@alice:localhost"] });
    await page.getByRole("region", { name: "Invites" }).getByRole("link", { name: /Open plans/ }).click();
    await page.getByRole("button", { name: "Accept" }).click();
    await page.getByRole("heading", { name: "Open plans" }).waitFor();
    await page.getByRole("button", { name: "Room settings" }).click();
    const settings = page.getByRole("dialog", { name: "Room settings" });
    await settings.getByText("Messages are not end-to-end encrypted.").waitFor();
    expect(await settings.getByRole("button", { name: "Turn on encryption" }).count()).toBe(0); // bob's room: alice has no power for it
    await page.keyboard.press("Escape");
    await bob.setPowerLevel(roomId, "@alice:localhost", 100);
    await page.getByRole("button", { name: "Room settings" }).click();
    await settings.getByRole("button", { name: "Turn on encryption" }).click();
    await page.getByRole("dialog", { name: "Turn on encryption" }).getByRole("button", { name: "Turn on" }).click();
    await page.getByText(/turned on end-to-end encryption/).waitFor();
    if (await settings.count()) await page.keyboard.press("Escape");
    await waitFor(async () => ((await bob.getCrypto()!.isEncryptionEnabledInRoom(roomId)) ? true : undefined), "encryption on in bob's client");
    const box = page.getByRole("textbox", { name: "Message Open plans" });
    await box.fill("Now it is private");
    await box.press("Enter");
    await waitFor(() => decryptedBody(bob, roomId, "Now it is private"), "bob decrypting after encryption was turned on");
    expect((await wireEvents(roomId)).find((e) => e.type === "m.room.message")).toBeUndefined();
  }, 40000);

  test("a message sent before this device was in the room says it waits for its keys, with Retry", async () => {
    const { room_id: roomId } = await bob.createRoom({ preset: "private_chat" as never, name: "Before you came", initial_state: [ENCRYPTION] });
    await waitFor(async () => ((await bob.getCrypto()!.isEncryptionEnabledInRoom(roomId)) ? true : undefined), "encryption on in bob's client");
    await bob.sendTextMessage(roomId, "Said before alice was invited");
    await bob.invite(roomId, "@alice:localhost");
    await page.getByRole("region", { name: "Invites" }).getByRole("link", { name: /Before you came/ }).click();
    await page.getByRole("button", { name: "Accept" }).click();
    const waiting = page.locator('[data-e2e="waiting"]');
    await waiting.getByText(/Waiting for the key to this message/).waitFor({ timeout: 20000 });
    await waiting.getByRole("button", { name: "Retry" }).click();
    await waiting.waitFor(); // still no key: still waiting, nothing broke
    await bob.sendTextMessage(roomId, "Said after alice joined");
    await page.locator(".msg", { hasText: "Said after alice joined" }).waitFor({ timeout: 20000 });
    await page.mouse.move(5, 5);
    await shot(page, "e2ee-waiting-for-keys");
  }, 40000);

  test("a reload keeps the device and its keys: the encrypted room unlocks again (timed)", async () => {
    const me = (await session())!;
    const keysBefore = await aliceDeviceKeys();
    await page.goto(`${s.url}/room/${enc(dmRoom)}`);
    const t0 = Date.now();
    await page.reload();
    await page.locator(".msg", { hasText: "Hello from the js-sdk, encrypted" }).waitFor({ timeout: 20000 });
    const unlocked = Date.now() - t0;
    const m = await page.evaluate(() => {
      const fcp = performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? -1;
      const res = performance.getEntriesByType("resource") as PerformanceResourceTiming[];
      const crypto = res.filter((r) => /\/assets\/crypto-/.test(r.name)).map((r) => r.startTime);
      return { fcp, cryptoStart: Math.min(...crypto), heap: (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0 };
    });
    expect(m.cryptoStart).toBeGreaterThan(m.fcp); // the crypto loads after the first paint
    expect((await session())!.deviceId).toBe(me.deviceId);
    expect(await aliceDeviceKeys()).toEqual(keysBefore); // no new device, same keys
    figures["signed-in reload: first contentful paint"] = `${Math.round(m.fcp)} ms`;
    figures["crypto chunk requested at"] = `${Math.round(m.cryptoStart)} ms`;
    figures["reload → encrypted room unlocked (message decrypted on screen)"] = `${unlocked} ms`;
    figures["JS heap after unlocking"] = `${(m.heap / 1048576).toFixed(1)} MiB`;
  }, 40000);

  test("recovery: cross-signing, secret storage and key backup set up from settings, with a recovery key", async () => {
    await page.getByRole("button", { name: "Your profile and settings" }).click();
    const card = page.getByRole("region", { name: "Encryption" });
    await card.getByRole("button", { name: "Set up recovery" }).click();
    const confirm = page.getByRole("dialog", { name: "Set up recovery" });
    await confirm.getByLabel("Your password").fill("alice-password");
    await confirm.getByRole("button", { name: "Confirm" }).click();
    const shown = page.getByRole("dialog", { name: "Your recovery key" });
    recoveryKey = (await shown.getByLabel("Recovery key").textContent())!.trim();
    expect(recoveryKey).toMatch(/^Es[1-9A-HJ-NP-Za-km-z]{2}( [1-9A-HJ-NP-Za-km-z]{4}){11}$/); // 0x8B01 + 32 bytes + parity, base58
    await shot(page, "e2ee-recovery-key");
    await shown.getByRole("button", { name: "I have saved it" }).click();
    await card.getByText(/Recovery is set up; your message keys are backed up/).waitFor();
    // The server has a cross-signing identity, this device signed by it, and the room keys in the backup.
    const me = (await session())!;
    const q = await bobUser.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [me.userId]: [] } });
    const ssk = Object.keys(q.self_signing_keys[me.userId].keys)[0]!;
    expect(q.master_keys[me.userId]).toBeDefined();
    expect(q.device_keys[me.userId][me.deviceId].signatures[me.userId][ssk]).toBeTruthy();
    const counted = await waitFor(async () => {
      const v = await aliceApi.ok("GET", "/_matrix/client/v3/room_keys/version");
      return v.count > 0 ? v : undefined;
    }, "room keys in the backup");
    expect(counted.algorithm).toBe("m.megolm_backup.v1.curve25519-aes-sha2");
    for (const t of ["m.secret_storage.default_key", "m.cross_signing.master", "m.megolm_backup.v1"]) {
      expect((await aliceApi.get(`/_matrix/client/v3/user/${enc(me.userId)}/account_data/${t}`)).status).toBe(200);
    }
    // matrix-js-sdk's Rust crypto (what Element runs) checks the chain: the device is signed by its owner.
    await waitFor(async () => ((await bob.getCrypto()!.getDeviceVerificationStatus(me.userId, me.deviceId))?.signedByOwner ? true : undefined), "bob seeing alice's device cross-signed");
    await page.getByRole("button", { name: "Back to chats" }).click();
    await page.getByRole("link", { name: /bob/ }).first().click();
  }, 60000);

  test("a second tab of the same session does not run a second crypto on the same store", async () => {
    const tab = await page.context().newPage();
    const tabErrors: string[] = [];
    tab.on("pageerror", (e) => tabErrors.push(e.message));
    tab.on("console", (m) => m.type() === "error" && !/Failed to load resource/.test(m.text()) && tabErrors.push(m.text()));
    await tab.goto(`${s.url}/room/${enc(dmRoom)}`);
    await tab.getByText(/encryption could not start here: this session's encryption is running in another tab/).waitFor({ timeout: 20000 });
    await tab.getByText(/Can't decrypt this message: encryption is not available here/).first().waitFor();
    expect(await tab.getByRole("textbox", { name: /^Message / }).count()).toBe(0);
    await tab.close();
    expect(tabErrors).toEqual([]);
    // The first tab still sends.
    const box = page.getByRole("textbox", { name: /^Message / });
    await box.fill("Still here in the first tab");
    await box.press("Enter");
    await waitFor(() => decryptedBody(bob, dmRoom, "Still here in the first tab"), "bob decrypting the first tab's message");
  }, 40000);

  test("signing in again on this browser reuses its device; signing out deletes its keys", async () => {
    const me = (await session())!;
    // The session is gone from this browser (as after the token was lost), the device is not.
    await page.evaluate(() => localStorage.removeItem("hs.session"));
    await page.goto(s.url);
    await signIn();
    expect((await session())!.deviceId).toBe(me.deviceId);
    await page.getByRole("link", { name: /bob/ }).first().click();
    await page.locator(".msg", { hasText: "Hello from the js-sdk, encrypted" }).waitFor({ timeout: 20000 });
    const devices = (await aliceApi.ok("GET", "/_matrix/client/v3/devices")).devices.map((d: { device_id: string }) => d.device_id);
    expect(devices.filter((d: string) => d !== aliceApi.deviceId)).toEqual([me.deviceId]);

    // Sign out: the server deletes the device; this browser deletes its store; the next sign-in is a new device.
    await page.getByRole("button", { name: "Your profile and settings" }).click();
    await page.getByRole("button", { name: "Sign out" }).last().click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    await waitFor(async () => {
      const dbs = await page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name ?? ""));
      return dbs.some((n) => n.includes(me.deviceId)) ? undefined : true;
    }, "the old device's crypto store deleted");
    await signIn();
    const next = (await session())!;
    expect(next.deviceId).not.toBe(me.deviceId);
    await waitFor(async () => ((await aliceDeviceKeys())[next.deviceId] ? true : undefined), "the new device's keys");
    expect(Object.keys(await aliceDeviceKeys())).not.toContain(me.deviceId);
  }, 60000);

  test("a new browser signs in, cannot read the history, then restores it with the recovery key", async () => {
    const fresh = await watchedPage(browser, contexts, errors);
    page = fresh;
    await page.goto(s.url);
    await signIn();
    await page.getByRole("link", { name: /bob/ }).first().click();
    await page.locator('[data-e2e="waiting"]').first().waitFor({ timeout: 20000 });
    expect(await page.locator(".msg", { hasText: "Hello from the js-sdk, encrypted" }).count()).toBe(0);
    await page.getByRole("button", { name: "Your profile and settings" }).click();
    const card = page.getByRole("region", { name: "Encryption" });
    await card.getByRole("button", { name: "Restore with recovery key" }).click();
    const dialog = page.getByRole("dialog", { name: "Restore with recovery key" });
    await dialog.getByLabel("Recovery key").fill(recoveryKey.replace(/.$/, (c) => (c === "a" ? "b" : "a"))); // one typo
    await dialog.getByRole("button", { name: "Restore" }).click();
    await dialog.getByText(/not a recovery key|does not match/).waitFor();
    await dialog.getByLabel("Recovery key").fill(recoveryKey);
    await dialog.getByRole("button", { name: "Restore" }).click();
    await page.getByText(/Restored: \d+ message keys?/).waitFor({ timeout: 20000 });
    await card.getByText(/Recovery is set up/).waitFor();
    // This device is now signed with the restored self-signing key.
    const me = (await session())!;
    const q = await bobUser.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [me.userId]: [] } });
    const ssk = Object.keys(q.self_signing_keys[me.userId].keys)[0]!;
    await waitFor(async () => {
      const q2 = await bobUser.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [me.userId]: [] } });
      return q2.device_keys[me.userId][me.deviceId]?.signatures?.[me.userId]?.[ssk] ? true : undefined;
    }, "the new device cross-signed");
    expect(q.master_keys[me.userId]).toBeDefined();
    await page.getByRole("button", { name: "Back to chats" }).click();
    await page.getByRole("link", { name: /bob/ }).first().click();
    await page.locator(".msg", { hasText: "Hello from the js-sdk, encrypted" }).waitFor({ timeout: 20000 });
    await page.locator(".msg", { hasText: "Hello back from the web client" }).waitFor();
  }, 60000);

  test("Element's side: matrix-js-sdk opens the web client's secret storage with the recovery key and restores the backup", async () => {
    const sdkAliceUser = await loginUser(s, "alice", "alice-password", { initial_device_display_name: "js-sdk" });
    const privateKey = decodeRecoveryKey(recoveryKey);
    const c = await cryptoClient(s, sdkAliceUser, started, () => ({ privateKey, keyInfo: {} }) as never);
    const crypto = c.getCrypto()!;
    await waitFor(async () => ((await crypto.getCrossSigningStatus()).publicKeysOnDevice ? true : undefined), "js-sdk seeing alice's identity");
    await crypto.bootstrapCrossSigning({}); // takes the private keys from secret storage (no reset: no UIA callback given)
    const st = await crypto.getCrossSigningStatus();
    expect(st.privateKeysInSecretStorage).toBe(true);
    expect(st.privateKeysCachedLocally.masterKey && st.privateKeysCachedLocally.selfSigningKey && st.privateKeysCachedLocally.userSigningKey).toBe(true);
    await crypto.loadSessionBackupPrivateKeyFromSecretStorage();
    const restored = await crypto.restoreKeyBackup();
    expect(restored.imported).toBeGreaterThan(0);
    expect(restored.imported).toBe(restored.total);
    sdkAlice = c;
  }, 60000);

  test("SAS: alice's js-sdk session verifies the web client's session with emoji", async () => {
    const me = (await session())!;
    const req = await sdkAlice.getCrypto()!.requestDeviceVerification(me.userId, me.deviceId);
    const dialog = page.getByRole("dialog", { name: "Verify session" });
    await dialog.getByText(/Your other session .* wants to verify this session/).waitFor({ timeout: 20000 });
    await dialog.getByRole("button", { name: "Accept" }).click();
    await waitFor(() => (req.phase === VerificationPhase.Ready ? true : undefined), "the request accepted");
    const { emoji, verified } = await sasFromSdk(req, dialog, 20000);
    expect(emoji.length).toBe(7);
    await shot(page, "e2ee-sas");
    await dialog.getByRole("button", { name: "They match" }).click();
    await verified;
    await dialog.getByText(/Verified:/).waitFor({ timeout: 20000 });
    expect((await sdkAlice.getCrypto()!.getDeviceVerificationStatus(me.userId, me.deviceId))?.isVerified()).toBe(true);
    await dialog.getByRole("button", { name: "Done" }).click();
    // Shields: alice's identity is verified here (this device holds her cross-signing keys), and in the
    // sessions list this browser and the js-sdk session are verified; sessions without keys get none.
    await page.getByRole("complementary", { name: "Members" }).locator(".member", { hasText: "@alice:localhost" }).getByText("Verified").waitFor();
    expect(await page.getByRole("complementary", { name: "Members" }).locator(".member", { hasText: "@bob:localhost" }).getByText("Verified").count()).toBe(0);
    await page.getByRole("button", { name: "Your profile and settings" }).click();
    const sessions = page.locator(".devices");
    await sessions.getByRole("listitem").filter({ hasText: "This browser" }).getByText("Verified").waitFor();
    await sessions.getByRole("listitem").filter({ hasText: sdkAlice.getDeviceId()! }).getByText("Verified").waitFor();
    expect(await sessions.getByRole("listitem").filter({ hasText: aliceApi.deviceId! }).locator(".tag.verified, .tag.unverified").count()).toBe(0);
    await shot(page, "e2ee-sessions");
    await page.getByRole("button", { name: "Back to chats" }).click();
  }, 60000);

  test("SAS started here: the web client verifies a new js-sdk session of alice's from the sessions list", async () => {
    const user = await loginUser(s, "alice", "alice-password", { initial_device_display_name: "js-sdk 2" });
    const other = await cryptoClient(s, user, started);
    let verifier: import("matrix-js-sdk/lib/crypto-api/verification.js").Verifier | undefined;
    let otherEmoji: string[] = [];
    other.on(CryptoEvent.VerificationRequestReceived, (req) => {
      void req.accept().then(() =>
        waitFor(() => req.verifier, "the web client starting SAS").then((v) => {
          verifier = v;
          v.on(VerifierEvent.ShowSas, (sas) => {
            otherEmoji = (sas.sas.emoji ?? []).map(([, name]) => name);
            void sas.confirm();
          });
          void v.verify().catch(() => {});
        }),
      );
    });
    await page.getByRole("button", { name: "Your profile and settings" }).click();
    const row = page.locator(".devices").getByRole("listitem").filter({ hasText: user.deviceId! });
    await row.getByText("Not verified").waitFor({ timeout: 20000 });
    await row.getByRole("button", { name: "Verify" }).click();
    const dialog = page.getByRole("dialog", { name: "Verify session" });
    const list = dialog.getByRole("list", { name: "Emoji to compare" });
    await list.waitFor({ timeout: 20000 });
    await waitFor(() => (otherEmoji.length ? true : undefined), "js-sdk showing the emoji");
    expect((await list.locator("li .small").allTextContents()).map((t) => t.trim())).toEqual(otherEmoji);
    await dialog.getByRole("button", { name: "They match" }).click();
    await dialog.getByText(/Verified:/).waitFor({ timeout: 20000 });
    expect(verifier).toBeDefined();
    await dialog.getByRole("button", { name: "Done" }).click();
    await row.getByText("Verified").waitFor();
    const me = (await session())!;
    await waitFor(async () => ((await other.getCrypto()!.getDeviceVerificationStatus(me.userId, me.deviceId))?.isVerified() ? true : undefined), "js-sdk trusting the web session");
    await page.getByRole("button", { name: "Back to chats" }).click();
  }, 60000);

  test("no script errors or CSP violations", () => {
    expect(errors).toEqual([]);
  });
});

describe.skipIf(!haveChromium)("web client end-to-end encryption across two federating servers", () => {
  let servers: FederatingServer[] = [];
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const started: MatrixClient[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    await ensureWebBuilt();
    servers = await startFederatingServers(2, { config: { federation: { retry_min_interval_ms: 200 } } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 60000);

  afterAll(async () => {
    for (const c of started) c.stopClient();
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    for (const s of servers) await s.stop();
  });

  test("a DM between the web client on one server and a js-sdk client on the other, both ways", async () => {
    const [hs1, hs2] = servers as [FederatingServer, FederatingServer];
    await registerUser(hs1, "falice", "falice-password");
    const bobUser = await registerUser(hs2, "fbob");
    const bob = await cryptoClient(hs2, bobUser, started);
    const alice = `@falice:${hs1.serverName}`;
    const page = await watchedPage(browser, contexts, errors);
    await page.goto(hs1.url);
    await page.getByLabel("User name").fill("falice");
    await page.getByLabel("Password").fill("falice-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("navigation", { name: "Rooms" }).waitFor();
    await waitFor(async () => {
      const r = await bobUser.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [alice]: [] } });
      return Object.keys(r.device_keys[alice] ?? {}).length ? true : undefined;
    }, "the web client's keys over federation");

    const { room_id: roomId } = await bob.createRoom({ preset: "trusted_private_chat" as never, is_direct: true, invite: [alice], initial_state: [ENCRYPTION] });
    await page.getByRole("region", { name: "Invites" }).getByRole("link", { name: /fbob/ }).click({ timeout: 20000 });
    await page.getByRole("button", { name: "Accept" }).click();
    await waitFor(() => (bob.getRoom(roomId)?.getMember(alice)?.membership === "join" ? true : undefined), "alice's join seen by bob");
    await bob.sendTextMessage(roomId, "Hello across servers");
    await page.locator(".msg", { hasText: "Hello across servers" }).waitFor({ timeout: 30000 });

    const box = page.getByRole("textbox", { name: /^Message / });
    await box.fill("Hello back across servers");
    await box.press("Enter");
    await waitFor(() => decryptedBody(bob, roomId, "Hello back across servers"), "bob decrypting the web client's message over federation");
    expect(errors).toEqual([]);
  }, 90000);
});
