// The web client in a real browser (Debian's Chromium driven by playwright-core): an admin creates a
// registration token in the admin console; two people sign up with it, create a room, invite, join,
// exchange messages and an image, see typing, receipts, unread counts, replies, reactions and edits.
// Screenshots go to $HS_SCREENSHOTS (or a temp dir, printed) for a person to look at.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { ensureWebBuilt } from "../../scripts/build-web.ts";
import { loginUser, registerUser } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { CHROMIUM, CHROMIUM_ARGS, haveChromium, watchedPage } from "./chromium.ts";

const SHOTS = process.env.HS_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), "hs-web-shots-"));
mkdirSync(SHOTS, { recursive: true });

/** A small PNG (a colour gradient) made here, so the test needs no image files. */
function makePng(w: number, h: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      raw[o] = Math.round((x / w) * 255);
      raw[o + 1] = Math.round((y / h) * 200) + 40;
      raw[o + 2] = 200;
    }
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

describe.skipIf(!haveChromium)("web client in Chromium", () => {
  let s: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let admin: Page;
  let alice: Page;
  let bob: Page;
  let token = "";
  const errors: string[] = [];

  const newPage = (width = 1280, height = 800): Promise<Page> => watchedPage(browser, contexts, errors, width, height);

  const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`) });

  async function signIn(page: Page, user: string, password: string) {
    await page.goto(s.url);
    await page.getByLabel("User name").fill(user);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("navigation", { name: "Rooms" }).waitFor();
  }

  async function signUp(page: Page, user: string, password: string, tok: string) {
    await page.goto(s.url);
    await page.getByRole("tab", { name: "Create account" }).click();
    await page.getByLabel("User name").fill(user);
    await page.getByLabel("Password", { exact: true }).fill(password);
    await page.getByLabel("Confirm password").fill(password);
    await page.getByLabel("Registration token").fill(tok);
    await page.getByRole("button", { name: "Create account" }).click();
  }

  beforeAll(async () => {
    await ensureWebBuilt();
    s = await startTestServer({ config: { registration: { enabled: true, requires_token: true } } });
    await registerUser(s, "root", "rootpassword", true);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    console.log(`web client screenshots: ${SHOTS}`);
  }, 60000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await s?.stop();
  });

  test("an admin signs in and creates a registration token in the admin console", async () => {
    admin = await newPage();
    await signIn(admin, "root", "rootpassword");
    await admin.getByRole("button", { name: "Admin console" }).click();
    await admin.getByRole("heading", { name: "Admin console" }).waitFor();
    await admin.getByText("Server version").waitFor();
    // The overview has every figure: uptime, events and the database from /_hs/admin/v1/server.
    await admin.getByText("SQLite ·").waitFor();
    for (const label of ["Uptime", "Events", "Database", "Federation destinations"]) await admin.getByText(label, { exact: true }).waitFor();
    expect(await admin.getByText("n/a", { exact: true }).count()).toBe(0);
    await shot(admin, "admin-overview");
    await admin.getByRole("link", { name: "Registration tokens" }).click();
    await admin.getByLabel("Uses allowed").fill("3");
    await admin.getByRole("button", { name: "Create token" }).click();
    const code = admin.locator("code.token").first();
    await code.waitFor();
    token = (await code.textContent()) ?? "";
    expect(token.length).toBeGreaterThan(4);
    await admin.getByRole("link", { name: "Users" }).click();
    await admin.getByRole("cell", { name: /@root:localhost/ }).waitFor();
    await shot(admin, "admin-users");
  }, 30000);

  test("two people sign up with the token (a wrong token is refused)", async () => {
    alice = await newPage();
    bob = await newPage(390, 844); // a phone
    await signUp(alice, "alice", "alice-password", "not-the-token");
    await alice.getByRole("alert").waitFor();
    await shot(alice, "signup-wrong-token");
    await alice.getByLabel("Registration token").fill(token);
    await alice.getByRole("button", { name: "Create account" }).click();
    await alice.getByRole("navigation", { name: "Rooms" }).waitFor();
    await signUp(bob, "bob", "bob-password", token);
    await bob.getByRole("navigation", { name: "Rooms" }).waitFor();
    // The admin sees the token used twice.
    await admin.getByRole("link", { name: "Registration tokens" }).click();
    await admin.getByRole("cell", { name: "2 / 3" }).waitFor();
  }, 30000);

  test("alice creates a room and invites bob; bob accepts on his phone", async () => {
    await alice.getByRole("button", { name: "Create a room" }).first().click();
    const dialog = alice.getByRole("dialog", { name: "Create a room" });
    await dialog.getByLabel("Name").fill("Family");
    await dialog.getByLabel("Topic (optional)").fill("Dinner plans and holiday photos");
    await dialog.getByLabel(/^Invite/).fill("@bob:localhost");
    await dialog.getByRole("button", { name: "Create room" }).click();
    await alice.getByRole("heading", { name: "Family" }).waitFor();

    await bob.getByRole("link", { name: /Family/ }).click();
    await bob.getByText(/invited you/).waitFor();
    await shot(bob, "phone-invite");
    await bob.getByRole("button", { name: "Accept" }).click();
    await bob.getByRole("textbox", { name: "Message Family" }).waitFor();
    await alice.getByText("bob joined").waitFor();
  }, 30000);

  test("messages with formatting, typing, read receipts and unread counts", async () => {
    const aliceBox = alice.getByRole("textbox", { name: "Message Family" });
    const bobBox = bob.getByRole("textbox", { name: "Message Family" });
    await aliceBox.fill("Hi **Bob**! Dinner at 7? Menu: https://example.org/menu");
    await aliceBox.press("Enter");
    const msg = bob.locator(".msg", { hasText: "Dinner at 7?" });
    await msg.waitFor();
    expect(await msg.locator("strong", { hasText: "Bob" }).count()).toBe(1);
    expect(await msg.locator('a[href="https://example.org/menu"]').count()).toBe(1);
    // "Bob" typed, not picked from the @-autocomplete: the message says it mentions nobody (m.mentions
    // is {}, intentional mentions), so it is not highlighted as one (tests/web/everyday.test.ts picks).
    expect(await msg.evaluate((el) => el.classList.contains("mention"))).toBe(false);

    // Bob has the room open at the bottom: his read receipt shows under alice's message.
    await alice.locator(".msg", { hasText: "Dinner at 7?" }).locator('.readers[aria-label="Read by bob"]').waitFor();

    await bobBox.pressSequentially("Sounds good", { delay: 10 });
    await alice.locator(".typing", { hasText: "bob is typing…" }).waitFor();
    await bobBox.press("Enter");
    await alice.locator(".msg", { hasText: "Sounds good" }).waitFor();

    // Bob goes back to his room list: a new message shows as unread there.
    await bob.getByRole("button", { name: "Back to rooms" }).click();
    await aliceBox.fill("Bring dessert please");
    await aliceBox.press("Enter");
    await bob.getByRole("link", { name: /Family/ }).locator(".badge", { hasText: "1" }).waitFor();
    await shot(bob, "phone-room-list");
    await bob.getByRole("link", { name: /Family/ }).click();
    await bob.locator(".msg", { hasText: "Bring dessert please" }).waitFor();
  }, 30000);

  test("an image with preview, then replies, reactions and edits", async () => {
    const png = makePng(480, 320);
    await alice.locator('input[type="file"]').setInputFiles({ name: "sunset.png", mimeType: "image/png", buffer: png });
    await alice.getByRole("img", { name: "Preview of sunset.png" }).waitFor();
    await alice.getByRole("button", { name: "Send", exact: true }).first().click();
    const img = bob.getByRole("img", { name: "sunset.png" });
    await img.waitFor();
    await bob.waitForFunction(() => {
      const i = document.querySelector<HTMLImageElement>('img[alt="sunset.png"]');
      return !!i && i.complete && i.naturalWidth > 0;
    });
    expect(await img.evaluate((el) => (el as HTMLImageElement).src.startsWith("blob:"))).toBe(true);
    await bob.getByRole("button", { name: "Open image sunset.png full size" }).click();
    await bob.getByRole("dialog", { name: "sunset.png" }).getByRole("img", { name: "sunset.png" }).waitFor();
    await bob.keyboard.press("Escape");

    // A file: a card with its name, size and a download button.
    await alice.locator('input[type="file"]').setInputFiles({ name: "shopping-list.txt", mimeType: "text/plain", buffer: Buffer.from("eggs\nflour\nsugar\n") });
    await alice.getByRole("button", { name: "Send", exact: true }).first().click();
    await bob.locator(".file-msg", { hasText: "shopping-list.txt" }).getByRole("button", { name: "Download shopping-list.txt" }).waitFor();

    // Bob replies to the dinner message and reacts to it.
    const dinner = bob.locator(".msg", { hasText: "Dinner at 7?" }).first();
    await dinner.hover();
    await dinner.getByRole("button", { name: "Reply", exact: true }).click();
    const bobBox = bob.getByRole("textbox", { name: "Message Family" });
    await bobBox.fill("I'll bring the cake");
    await bobBox.press("Enter");
    await dinner.hover();
    await dinner.getByRole("button", { name: "React" }).click();
    await dinner.getByRole("menuitem", { name: "React with 👍" }).click();

    const reply = alice.locator(".msg", { hasText: "I'll bring the cake" });
    await reply.locator(".reply-quote", { hasText: "Dinner at 7?" }).waitFor();
    await alice.locator(".msg", { hasText: "Dinner at 7?" }).first().locator(".reaction", { hasText: "👍" }).waitFor();

    // Alice edits her last text message with the up arrow.
    const aliceBox = alice.getByRole("textbox", { name: "Message Family" });
    await aliceBox.click();
    await aliceBox.press("ArrowUp");
    await alice.waitForFunction(() => document.querySelector<HTMLTextAreaElement>("textarea[aria-label='Message Family']")?.value === "Bring dessert please");
    await aliceBox.fill("Bring dessert please, and candles");
    await aliceBox.press("Enter");
    const edited = bob.locator(".msg", { hasText: "Bring dessert please, and candles" });
    await edited.locator(".edited").waitFor();

    await alice.mouse.move(5, 5);
    await shot(alice, "room-desktop");
    await shot(bob, "room-phone");
  }, 45000);

  test("history: scroll back, jump to latest; deleting a message; a failed send retried", async () => {
    // Bob writes a long history in a new room through the API, then invites alice.
    const api = await loginUser(s, "bob", "bob-password");
    const { room_id: roomId } = await api.ok("POST", "/_matrix/client/v3/createRoom", { name: "Road trip", preset: "private_chat" });
    const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`;
    await api.ok("PUT", `${path}/send/m.room.message/first`, { msgtype: "m.text", body: "Where shall we go this summer?" });
    for (let i = 1; i <= 80; i++) await api.ok("PUT", `${path}/send/m.room.message/hist${i}`, { msgtype: "m.text", body: `Idea number ${i}` });
    await api.ok("POST", `${path}/invite`, { user_id: "@alice:localhost" });
    await alice.getByRole("region", { name: "Invites" }).getByRole("link", { name: /Road trip/ }).click();
    await alice.getByRole("button", { name: "Accept" }).click();
    await alice.locator(".msg", { hasText: "Idea number 80" }).waitFor();
    expect(await alice.locator(".msg", { hasText: "Where shall we go" }).count()).toBe(0); // not in the first batch
    const timeline = alice.getByRole("log", { name: "Messages in Road trip" });
    for (let i = 0; i < 20 && (await alice.getByText("This is the beginning of the conversation.").count()) === 0; i++) {
      await timeline.evaluate((el) => el.scrollTo({ top: 0 }));
      await alice.waitForTimeout(200);
    }
    await alice.locator(".msg", { hasText: "Where shall we go this summer?" }).waitFor();
    await alice.getByRole("button", { name: "Jump to latest" }).click();
    await alice.getByRole("button", { name: "Jump to latest" }).waitFor({ state: "detached" });
    await bob.getByRole("button", { name: "Back to rooms" }).click();
    await bob.getByRole("region", { name: "Rooms" }).getByRole("link", { name: /Road trip/ }).click();

    // Bob deletes one of his messages; alice sees it deleted.
    const last = bob.locator(".msg", { hasText: "Idea number 80" });
    await last.hover();
    await last.getByRole("button", { name: "Delete" }).click();
    await bob.getByRole("dialog", { name: "Delete message" }).getByRole("button", { name: "Delete" }).click();
    await alice.locator(".msg", { hasText: "Message deleted" }).waitFor();
    expect(await alice.locator(".msg", { hasText: "Idea number 80" }).count()).toBe(0);

    // The network drops a send: the message says so and goes out on Retry.
    await alice.route("**/send/m.room.message/**", (route) => route.abort());
    const box = alice.getByRole("textbox", { name: "Message Road trip" });
    await box.fill("Is anyone there?");
    await box.press("Enter");
    await alice.getByRole("alert").filter({ hasText: "Not sent" }).waitFor();
    await alice.unroute("**/send/m.room.message/**");
    await alice.getByRole("button", { name: "Retry" }).click();
    await bob.locator(".msg", { hasText: "Is anyone there?" }).waitFor();
    await alice.getByRole("alert").filter({ hasText: "Not sent" }).waitFor({ state: "detached" });

    // Rate limited (429 M_LIMIT_EXCEEDED): the client waits as told and sends again by itself.
    let attempts = 0;
    await alice.route("**/send/m.room.message/**", (route) => {
      if (attempts++ === 0) {
        return route.fulfill({ status: 429, contentType: "application/json", body: JSON.stringify({ errcode: "M_LIMIT_EXCEEDED", error: "Too many requests", retry_after_ms: 300 }) });
      }
      return route.continue();
    });
    await box.fill("Slow down?");
    await box.press("Enter");
    await bob.locator(".msg", { hasText: "Slow down?" }).waitFor();
    expect(attempts).toBe(2);
    expect(await alice.getByRole("alert").filter({ hasText: "Not sent" }).count()).toBe(0);
    await alice.unroute("**/send/m.room.message/**");
  }, 45000);

  test("an encrypted room: the message goes out as m.room.encrypted and reads back decrypted", async () => {
    await alice.getByRole("button", { name: "Create a room" }).first().click();
    const dialog = alice.getByRole("dialog", { name: "Create a room" });
    await dialog.getByLabel("Name").fill("Secrets");
    await dialog.getByLabel(/End-to-end encrypted/).check();
    await dialog.getByRole("button", { name: "Create room" }).click();
    await alice.getByRole("heading", { name: /Secrets/ }).waitFor();
    await alice.getByText("Messages in this room are end-to-end encrypted").waitFor();
    const box = alice.getByRole("textbox", { name: "Message Secrets" });
    await box.fill("The password is swordfish");
    await box.press("Enter");
    await alice.locator(".msg", { hasText: "The password is swordfish" }).waitFor();
    // The server only ever saw ciphertext.
    const api = await loginUser(s, "alice", "alice-password");
    const roomId = decodeURIComponent(new URL(alice.url()).pathname.split("/").pop()!);
    const msgs = await api.ok("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=10`);
    const sent = msgs.chunk.filter((e: { type: string }) => e.type === "m.room.encrypted");
    expect(sent.length).toBe(1);
    expect(sent[0].content.algorithm).toBe("m.megolm.v1.aes-sha2");
    expect(JSON.stringify(msgs.chunk)).not.toContain("swordfish");
    // After a reload it still reads (the Megolm session is in IndexedDB).
    await alice.reload();
    await alice.locator(".msg", { hasText: "The password is swordfish" }).waitFor({ timeout: 20000 });
  }, 40000);

  test("a public room found in Explore; a direct chat accepted from Invites", async () => {
    await alice.getByRole("button", { name: "Create a room" }).first().click();
    const dialog = alice.getByRole("dialog", { name: "Create a room" });
    await dialog.getByLabel("Name").fill("Book club");
    await dialog.getByLabel(/^Public/).check();
    await dialog.getByLabel("Address (optional)").fill("bookclub");
    await dialog.getByRole("button", { name: "Create room" }).click();
    await alice.getByRole("heading", { name: "Book club" }).waitFor();

    // Bob finds it in the directory and joins by its address.
    await bob.getByRole("button", { name: "Back to rooms" }).click();
    await bob.getByRole("button", { name: "Explore and join rooms" }).click();
    const explore = bob.getByRole("dialog", { name: "Explore rooms" });
    await explore.getByRole("listitem").filter({ hasText: "Book club" }).filter({ hasText: "#bookclub:localhost" }).getByRole("button", { name: "Join" }).waitFor();
    await explore.getByLabel("Join by address").fill("#bookclub:localhost");
    await explore.getByRole("button", { name: "Join", exact: true }).first().click();
    await bob.getByRole("heading", { name: "Book club" }).waitFor();
    await alice.getByText("bob joined").waitFor();

    await bob.getByRole("button", { name: "Back to rooms" }).click();
    await bob.getByRole("button", { name: "Start a direct chat" }).click();
    await bob.getByRole("dialog", { name: "Start a direct chat" }).getByLabel("User ID").fill("@alice:localhost");
    await bob.getByRole("button", { name: "Start chat" }).click();
    await bob.getByRole("textbox", { name: /^Message / }).fill("Psst, about the surprise party");
    await bob.getByRole("textbox", { name: /^Message / }).press("Enter");
    const invites = alice.getByRole("region", { name: "Invites" });
    await invites.getByRole("link", { name: /bob/ }).click();
    await alice.getByText(/invited you to a direct chat/).waitFor();
    await alice.getByRole("button", { name: "Accept" }).click();
    await alice.locator(".msg", { hasText: "Psst, about the surprise party" }).waitFor();
    await alice.getByRole("region", { name: "People" }).getByRole("link", { name: /bob/ }).waitFor();
    await bob.getByRole("button", { name: "Back to rooms" }).click();
    await bob.getByRole("region", { name: "People" }).getByRole("link", { name: /alice/ }).waitFor();
    await alice.getByRole("link", { name: /Family/ }).click();
    await alice.locator(".msg", { hasText: "I'll bring the cake" }).waitFor();
    await alice.mouse.move(5, 5);
    await shot(alice, "overview-desktop");
  }, 30000);

  test("room settings and moderation: topic change, removing a member", async () => {
    await alice.getByRole("link", { name: /Book club/ }).click();
    await alice.getByRole("button", { name: "Room settings" }).click();
    const settings = alice.getByRole("dialog", { name: "Room settings" });
    await settings.getByLabel("Topic").fill("One book a month");
    await settings.getByRole("button", { name: "Save" }).click();
    await alice.locator(".room-head .topic", { hasText: "One book a month" }).waitFor();
    const members = alice.getByRole("complementary", { name: "Members" });
    await members.getByRole("button", { name: "Actions for bob" }).click();
    await members.getByRole("menuitem", { name: "Remove from room" }).click();
    await alice.getByRole("dialog", { name: "Remove from room" }).getByRole("button", { name: "Remove" }).click();
    await alice.getByText("alice removed bob").waitFor();
    await bob.getByRole("region", { name: "Rooms" }).getByRole("link", { name: /Book club/ }).waitFor({ state: "detached" });
  }, 30000);

  test("admin console: create a user, make them admin, deactivate; rooms, media and reports", async () => {
    await admin.getByRole("link", { name: "Users" }).click();
    await admin.getByRole("button", { name: "New user" }).click();
    const dialog = admin.getByRole("dialog", { name: "New user" });
    await dialog.getByLabel("User name").fill("carol");
    await dialog.getByLabel("Display name (optional)").fill("Carol");
    await dialog.getByLabel("Password").fill("carol-password");
    await dialog.getByRole("button", { name: "Create user" }).click();
    const carol = admin.getByRole("row", { name: /@carol:localhost/ });
    await carol.waitFor();
    await carol.getByRole("button", { name: "Make admin" }).click();
    await carol.getByText("admin", { exact: true }).waitFor();
    await carol.getByRole("button", { name: "Deactivate" }).click();
    await admin.getByRole("dialog", { name: "Deactivate user" }).getByRole("button", { name: "Deactivate" }).click();
    await carol.getByText("deactivated").waitFor();
    await admin.getByRole("searchbox", { name: "Search users" }).fill("ali");
    await admin.getByRole("row", { name: /@carol:localhost/ }).waitFor({ state: "detached" });
    await admin.getByRole("row", { name: /@alice:localhost/ }).waitFor();

    await admin.getByRole("link", { name: "Rooms" }).click();
    const family = admin.getByRole("row", { name: /Family/ });
    await family.waitFor();
    await admin.getByRole("row", { name: /Book club/ }).getByRole("button", { name: "Details" }).click();
    const details = admin.getByRole("dialog", { name: "Room details" });
    await details.getByText("@alice:localhost", { exact: true }).first().waitFor();
    await shot(admin, "admin-room-details");
    await details.getByRole("button", { name: "Delete and purge room" }).click();
    await admin.getByRole("dialog", { name: "Delete room", exact: true }).getByRole("button", { name: "Delete room" }).click();
    await admin.getByRole("row", { name: /Book club/ }).waitFor({ state: "detached", timeout: 15000 });

    await admin.getByRole("link", { name: "Media" }).click();
    await admin.getByRole("row", { name: /@alice:localhost/ }).waitFor();
    await shot(admin, "admin-media");
    // Bob reports a message; the admin sees the report (where the server has the reporting API).
    const canReport = (await fetch(`${s.url}/_matrix/client/v3/rooms/x/report/y`, { method: "POST" })).status !== 404;
    if (canReport) {
      await bob.getByRole("region", { name: "Rooms" }).getByRole("link", { name: /Family/ }).click();
      const m = bob.locator(".msg", { hasText: "Dinner at 7?" }).first();
      await m.hover();
      await m.getByRole("button", { name: "Report" }).click();
      const report = bob.getByRole("dialog", { name: "Report message" });
      await report.getByLabel("Reason").fill("spam");
      await report.getByRole("button", { name: "Report" }).click();
      await bob.getByText("Reported to the administrators").waitFor();
      await bob.getByRole("button", { name: "Back to rooms" }).click();
    }
    await admin.getByRole("link", { name: "Reports" }).click();
    if (canReport) await admin.getByRole("cell", { name: "spam" }).waitFor();
    else await admin.locator(".unavailable").waitFor();
  }, 45000);

  test("dark theme, settings with sessions, and the session survives a reload", async () => {
    await alice.getByRole("link", { name: /Family/ }).click();
    await alice.getByRole("button", { name: "Switch to dark theme" }).click();
    await expect(alice.evaluate(() => document.documentElement.dataset.theme)).resolves.toBe("dark");
    await alice.mouse.move(5, 5);
    await shot(alice, "room-desktop-dark");
    await alice.reload();
    await alice.getByRole("heading", { name: "Family" }).waitFor();
    await expect(alice.evaluate(() => document.documentElement.dataset.theme)).resolves.toBe("dark");
    await alice.getByRole("button", { name: "Your profile and settings" }).click();
    await alice.getByRole("heading", { name: "Sessions" }).waitFor();
    await alice.getByText("This browser", { exact: true }).waitFor();
    // Another device of alice's, signed out from here (the password confirms it).
    const phone = await loginUser(s, "alice", "alice-password", { initial_device_display_name: "Alice's old phone" });
    await alice.reload();
    const old = alice.getByRole("listitem").filter({ hasText: "Alice's old phone" });
    await old.getByRole("button", { name: "Sign out" }).click();
    await alice.getByRole("dialog").getByLabel("Your password").fill("alice-password");
    await alice.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    await old.waitFor({ state: "detached" });
    expect((await phone.get("/_matrix/client/v3/account/whoami")).status).toBe(401);
    await alice.locator(".card", { hasText: "Profile" }).locator('input[type="file"]').setInputFiles({ name: "me.png", mimeType: "image/png", buffer: makePng(96, 96) });
    await alice.locator(".sidebar-head img.avatar").waitFor();
    await alice.getByLabel("Display name").fill("Alice");
    await alice.getByRole("button", { name: "Save name" }).click();
    await bob.getByRole("region", { name: "Rooms" }).getByRole("link", { name: /Family/ }).click();
    await bob.getByText("alice is now known as Alice").waitFor();
    await shot(alice, "settings-dark");
    await alice.getByRole("button", { name: "Sign out" }).last().click();
    await alice.getByRole("button", { name: "Sign in" }).waitFor();
  }, 30000);

  test("no script errors or CSP violations in any page", () => {
    expect(errors).toEqual([]);
  });
});
