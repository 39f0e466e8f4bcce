// The everyday features of the web client in Chromium, against a real hs, with bob on the API as the
// other person: the full emoji picker (search; for reactions and in the composer; its list a lazy
// chunk), mentions (@-autocomplete from the members, pills, m.mentions, received pills), server-side
// message search with jump-to-result, per-room notification settings (push rules), threads, and
// room settings (history visibility, guest access, addresses). Any script error or CSP violation
// fails it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { ensureWebBuilt } from "../../scripts/build-web.ts";
import { DEFAULT_IP_RANGE_DENYLIST } from "../../src/config/schema.ts";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../e2ee/sdk-crypto.ts";
import { CHROMIUM, CHROMIUM_ARGS, haveChromium, watchedPage } from "./chromium.ts";

const SHOTS = process.env.HS_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), "hs-web-shots-"));
mkdirSync(SHOTS, { recursive: true });
const enc = encodeURIComponent;
/** The default deny list, except 127.0.0.2, where this test serves a page to preview. */
const RELAXED = [...DEFAULT_IP_RANGE_DENYLIST.filter((r) => r !== "127.0.0.0/8"), "127.0.0.0/31", "127.0.0.3/32", "127.0.0.4/30", "127.0.0.8/29", "127.0.1.0/24"];
/** A 4×4 PNG. */
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGM4YWQERwzEcQDxIxLBm7UkwAAAAABJRU5ErkJggg==", "base64");

describe.skipIf(!haveChromium)("web client: everyday features", () => {
  let s: TestServer;
  let site: ReturnType<typeof Bun.serve>;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const errors: string[] = [];
  let page: Page;
  let alice: TestClient;
  let bob: TestClient;
  let roomId = "";
  let txn = 0;
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`) });

  const bobSends = async (content: Record<string, unknown>, type = "m.room.message"): Promise<string> =>
    (await bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/${type}/t${++txn}`, content)).event_id;

  /** The room's latest events as bob's API sees them. */
  const latest = async (n = 20): Promise<Array<{ type: string; event_id: string; sender: string; content: Record<string, any> }>> =>
    (await bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=${n}`)).chunk;

  const composer = () => page.getByRole("textbox", { name: /^Message / });

  beforeAll(async () => {
    await ensureWebBuilt();
    s = await startTestServer({ config: { url_preview: { enabled: true, ip_range_denylist: RELAXED } } });
    site = Bun.serve({
      hostname: "127.0.0.2",
      port: 0,
      fetch(req) {
        const u = new URL(req.url);
        if (u.pathname === "/cake.png") return new Response(PNG, { headers: { "Content-Type": "image/png" } });
        return new Response(
          `<!doctype html><html><head><title>Lemon cake</title><meta property="og:title" content="Lemon cake recipe"><meta property="og:description" content="A sharp, light cake for Sunday"><meta property="og:image" content="http://127.0.0.2:${u.port}/cake.png"></head><body>cake</body></html>`,
          { headers: { "Content-Type": "text/html; charset=utf-8" } },
        );
      },
    });
    alice = await registerUser(s, "alice", "alice-password");
    bob = await registerUser(s, "bob");
    await bob.ok("PUT", `/_matrix/client/v3/profile/${enc("@bob:localhost")}/displayname`, { displayname: "Bob Builder" });
    roomId = (await bob.ok("POST", "/_matrix/client/v3/createRoom", { name: "Everyday", preset: "private_chat", invite: ["@alice:localhost"] })).room_id;
    await alice.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
    // Something to find far back (before 60 newer messages: out of the first sync's 40).
    await bobSends({ msgtype: "m.text", body: "the quick brown fox jumps over the lazy dog" });
    for (let i = 0; i < 60; i++) await bobSends({ msgtype: "m.text", body: `filler message ${i}` });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await watchedPage(browser, contexts, errors);
    await page.goto(s.url);
    await page.getByLabel("User name").fill("alice");
    await page.getByLabel("Password").fill("alice-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("navigation", { name: "Rooms" }).waitFor();
    await page.getByRole("link", { name: /Everyday/ }).first().click();
    await composer().waitFor();
  }, 120000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await s?.stop();
    site?.stop(true);
  });

  test("emoji picker: any emoji as a reaction, found by name; the emoji list loads only when a picker opens", async () => {
    const scripts = () => page.evaluate(() => performance.getEntriesByType("resource").filter((r) => /\.js$/.test(r.name)).map((r) => r.name));
    const before = await scripts();
    const target = await bobSends({ msgtype: "m.text", body: "Pick any emoji for this" });
    const msg = page.locator(`[data-event-id="${target}"]`);
    await msg.waitFor();
    await msg.hover();
    await msg.getByRole("button", { name: "React" }).click();
    await page.getByRole("menuitem", { name: "More emoji" }).click();
    const picker = page.getByRole("dialog", { name: "React with an emoji" });
    await picker.getByLabel("Search emoji").fill("party pop");
    await picker.getByRole("button", { name: "party popper" }).click();
    await msg.getByRole("button", { name: /🎉 1/ }).waitFor();
    const reaction = await waitFor(async () => (await latest()).find((e) => e.type === "m.reaction" && e.content["m.relates_to"]?.event_id === target), "the reaction on the server");
    expect(reaction.content["m.relates_to"].key).toBe("🎉");
    // The list came as a chunk of its own, after the page had loaded.
    const after = await scripts();
    expect(after.length).toBeGreaterThan(before.length);
    // In the composer: inserted at the cursor.
    await composer().fill("Well done ");
    await page.getByRole("button", { name: "Insert an emoji" }).click();
    const insert = page.getByRole("dialog", { name: "Insert an emoji" });
    await insert.getByLabel("Search emoji").fill("thumbs up");
    await insert.getByRole("button", { name: "thumbs up sign" }).click();
    expect(await composer().inputValue()).toBe("Well done 👍");
    await composer().press("Enter");
    await waitFor(async () => ((await latest()).some((e) => e.content.body === "Well done 👍") ? true : undefined), "the message with the emoji");
    // Recently used first, next time.
    await page.getByRole("button", { name: "Insert an emoji" }).click();
    await insert.getByRole("group", { name: "Recently used" }).getByRole("button", { name: "thumbs up sign" }).waitFor();
    await shot("everyday-emoji-picker");
    await page.keyboard.press("Escape");
  }, 60000);

  test("mentions: @-autocomplete from the members sends a pill and m.mentions; a received pill shows and highlights", async () => {
    await composer().fill("");
    await composer().pressSequentially("Hi @bui");
    const list = page.getByRole("listbox", { name: "Mention suggestions" });
    await list.getByRole("option", { name: /Bob Builder/ }).waitFor();
    await shot("everyday-mention-autocomplete");
    await composer().press("Enter"); // picks the suggestion, does not send
    expect(await composer().inputValue()).toBe("Hi Bob Builder ");
    await composer().pressSequentially("are you there?");
    await composer().press("Enter");
    const sent = await waitFor(async () => (await latest()).find((e) => e.content.body === "Hi Bob Builder are you there?"), "the mention on the server");
    expect(sent.content["m.mentions"]).toEqual({ user_ids: ["@bob:localhost"] });
    expect(sent.content.formatted_body).toBe('Hi <a href="https://matrix.to/#/@bob:localhost">Bob Builder</a> are you there?');
    // A message without mentions says so (m.mentions: {}), so that nobody is notified by accident.
    await composer().fill("no one in particular");
    await composer().press("Enter");
    const plain = await waitFor(async () => (await latest()).find((e) => e.content.body === "no one in particular"), "the plain message");
    expect(plain.content["m.mentions"]).toEqual({});
    // Bob mentions alice with a pill.
    const id = await bobSends({ msgtype: "m.text", body: "alice: yes!", format: "org.matrix.custom.html", formatted_body: '<a href="https://matrix.to/#/@alice:localhost">alice</a>: yes!', "m.mentions": { user_ids: ["@alice:localhost"] } });
    const msg = page.locator(`[data-event-id="${id}"]`);
    await msg.locator('.mention-pill[title="@alice:localhost"]').waitFor();
    expect(await msg.getAttribute("class")).toContain("mention");
  }, 60000);

  test("editing keeps the message's formatting and its mentions", async () => {
    await composer().fill("");
    await composer().pressSequentially("Ask @bui");
    await page.getByRole("listbox", { name: "Mention suggestions" }).getByRole("option", { name: /Bob Builder/ }).waitFor();
    await composer().press("Enter");
    await composer().pressSequentially("about the **cake** and `oven`");
    await composer().press("Enter");
    const sent = await waitFor(async () => (await latest()).find((e) => e.content.body === "Ask Bob Builder about the **cake** and `oven`"), "the formatted message");
    expect(sent.content.formatted_body).toBe('Ask <a href="https://matrix.to/#/@bob:localhost">Bob Builder</a> about the <strong>cake</strong> and <code>oven</code>');
    await page.locator(`[data-event-id="${sent.event_id}"]`).waitFor();
    await composer().press("ArrowUp");
    await page.waitForFunction(() => document.querySelector<HTMLTextAreaElement>("textarea[aria-label^='Message ']")?.value === "Ask Bob Builder about the **cake** and `oven`");
    await composer().fill("Ask Bob Builder about the **lemon cake** and `oven`");
    await composer().press("Enter");
    const edit = await waitFor(async () => (await latest()).find((e) => e.content["m.relates_to"]?.rel_type === "m.replace" && e.content["m.relates_to"].event_id === sent.event_id), "the edit");
    expect(edit.content["m.new_content"].formatted_body).toBe('Ask <a href="https://matrix.to/#/@bob:localhost">Bob Builder</a> about the <strong>lemon cake</strong> and <code>oven</code>');
    expect(edit.content["m.new_content"]["m.mentions"]).toEqual({ user_ids: ["@bob:localhost"] });
  }, 60000);

  test("search: the server finds an old message; choosing it loads history back to it and highlights it", async () => {
    await page.getByRole("button", { name: "Search messages" }).click();
    const dialog = page.getByRole("dialog", { name: "Search messages" });
    await dialog.getByLabel("Search for").fill("brown fox");
    await dialog.getByRole("button", { name: "Search", exact: true }).click();
    const results = dialog.getByRole("region", { name: "Search results" });
    await results.getByText("1 message found").waitFor();
    await results.locator("mark").first().waitFor();
    await shot("everyday-search");
    await results.getByRole("button", { name: /quick brown fox/ }).click();
    const found = page.locator(".msg.flash", { hasText: "the quick brown fox jumps over the lazy dog" });
    await found.waitFor({ timeout: 20000 });
    await expect(found.isVisible()).resolves.toBe(true);
    // Nothing for words that are not there.
    await page.getByRole("button", { name: "Search messages" }).click();
    await dialog.getByLabel("Search for").fill("zebra");
    await dialog.getByRole("button", { name: "Search", exact: true }).click();
    await dialog.getByText("No messages found.").waitFor();
    await page.keyboard.press("Escape");
  }, 60000);

  test("threads: a root shows its reply count; the thread panel shows replies, live ones too, and replies in the thread", async () => {
    const root = await bobSends({ msgtype: "m.text", body: "Where shall we go on Sunday?" });
    const first = await bobSends({ msgtype: "m.text", body: "The lake, I think", "m.relates_to": { rel_type: "m.thread", event_id: root, is_falling_back: true, "m.in_reply_to": { event_id: root } } });
    const rootMsg = page.locator(`[data-event-id="${root}"]`);
    await rootMsg.getByRole("button", { name: "1 reply in thread" }).waitFor();
    // The reply is in the thread, not in the room's timeline.
    expect(await page.getByRole("log", { name: /^Messages in Everyday/ }).getByText("The lake, I think").count()).toBe(0);
    await rootMsg.getByRole("button", { name: "1 reply in thread" }).click();
    const panel = page.getByRole("complementary", { name: "Thread" });
    await panel.getByText("The lake, I think").waitFor();
    const box = panel.getByRole("textbox", { name: "Reply in thread" });
    await box.fill("Count me in");
    await box.press("Enter");
    const mine = await waitFor(async () => (await latest()).find((e) => e.content.body === "Count me in"), "alice's thread reply");
    expect(mine.content["m.relates_to"]).toEqual({ rel_type: "m.thread", event_id: root, is_falling_back: true, "m.in_reply_to": { event_id: first } });
    await panel.locator(".msg", { hasText: "Count me in" }).waitFor();
    await bobSends({ msgtype: "m.text", body: "Great, see you there", "m.relates_to": { rel_type: "m.thread", event_id: root, is_falling_back: true, "m.in_reply_to": { event_id: mine.event_id } } });
    await panel.getByText("Great, see you there").waitFor();
    expect(await panel.locator(".reply-quote").count()).toBe(0); // the reply fallback (is_falling_back) is not shown in a thread
    await rootMsg.getByRole("button", { name: "3 replies in thread" }).waitFor();
    await shot("everyday-thread");
    // The room's thread list, from the server.
    await panel.getByRole("button", { name: "All threads" }).click();
    const list = page.getByRole("complementary", { name: "Threads" }).getByRole("list", { name: "Threads in this room" });
    await list.getByRole("button", { name: /Where shall we go on Sunday\?.*3 replies/ }).waitFor();
    // A new thread from the message actions.
    const other = await bobSends({ msgtype: "m.text", body: "Separate topic: the budget" });
    const otherMsg = page.locator(`[data-event-id="${other}"]`);
    await otherMsg.hover();
    await otherMsg.getByRole("button", { name: "Reply in thread" }).click();
    await page.getByRole("complementary", { name: "Thread" }).getByRole("textbox", { name: "Reply in thread" }).fill("Let's keep it under 50");
    await page.getByRole("complementary", { name: "Thread" }).getByRole("textbox", { name: "Reply in thread" }).press("Enter");
    const started = await waitFor(async () => (await latest()).find((e) => e.content.body === "Let's keep it under 50"), "the new thread's first reply");
    expect(started.content["m.relates_to"].event_id).toBe(other);
    await page.getByRole("button", { name: "Close threads" }).click();
  }, 60000);

  test("thread notifications: per-thread unread counts on the Threads button, the root and the thread list; reading sends threaded receipts", async () => {
    /** Alice's counts as the server has them (her own API client, per thread). */
    const aliceCounts = async () => {
      const filter = JSON.stringify({ room: { rooms: [roomId], timeline: { limit: 1, unread_thread_notifications: true } } });
      const r = (await alice.ok("GET", `/_matrix/client/v3/sync?filter=${enc(filter)}`)).rooms.join[roomId];
      return { main: r.unread_notifications.notification_count as number, threads: (r.unread_thread_notifications ?? {}) as Record<string, { notification_count: number; highlight_count: number }> };
    };
    const root = await bobSends({ msgtype: "m.text", body: "Who brings the cake?" });
    const rootMsg = page.locator(`[data-event-id="${root}"]`);
    await rootMsg.waitFor();
    const inThread = (body: string, after: string) => ({ msgtype: "m.text", body, "m.relates_to": { rel_type: "m.thread", event_id: root, is_falling_back: true, "m.in_reply_to": { event_id: after } } });
    const r1 = await bobSends(inThread("I can", root));
    await bobSends(inThread("Or Carol", r1));
    // The room is on screen: the main timeline is read (a receipt with thread_id "main"), the thread is not.
    const threadsButton = page.getByRole("button", { name: "Threads (2 unread)" });
    await threadsButton.waitFor();
    await rootMsg.getByRole("button", { name: /2 replies in thread/ }).getByRole("img", { name: "unread" }).waitFor();
    const before = await waitFor(async () => {
      const c = await aliceCounts();
      return c.main === 0 && c.threads[root]?.notification_count === 2 ? c : undefined;
    }, "the main timeline read, the thread not");
    expect(before.threads[root]).toEqual({ notification_count: 2, highlight_count: 0 });
    // The room list counts the thread's messages.
    await page.getByRole("navigation", { name: "Rooms" }).getByLabel("2 unread").waitFor();
    await threadsButton.click();
    const list = page.getByRole("complementary", { name: "Threads" }).getByRole("list", { name: "Threads in this room" });
    const item = list.getByRole("button", { name: /Who brings the cake\?/ });
    await item.getByLabel("2 unread in thread").waitFor();
    await shot("everyday-thread-unread");
    // Opening the thread reads it: a threaded receipt for its latest reply; the badges go.
    await item.click();
    await page.getByRole("complementary", { name: "Thread" }).getByText("Or Carol").waitFor();
    await waitFor(async () => ((await aliceCounts()).threads[root] === undefined ? true : undefined), "the thread read on the server");
    await page.getByRole("button", { name: "Threads", exact: true }).waitFor();
    expect(await rootMsg.getByRole("img", { name: "unread" }).count()).toBe(0);
    // The receipt bob sees is threaded.
    const receipts = await waitFor(async () => {
      const r = (await bob.ok("GET", `/_matrix/client/v3/sync?filter=${enc(JSON.stringify({ room: { rooms: [roomId], timeline: { limit: 1 } } }))}`)).rooms.join[roomId];
      const ev = (r.ephemeral?.events ?? []).find((e: { type: string }) => e.type === "m.receipt");
      return ev ? (Object.values(ev.content) as Array<Record<string, Record<string, { thread_id?: string }>>>).flatMap((byType) => Object.values(byType["m.read"] ?? {})).filter((x) => x.thread_id === root) : undefined;
    }, "alice's threaded receipt");
    expect(receipts.length).toBeGreaterThan(0);
    // A new reply while the thread is open is read at once.
    await bobSends(inThread("Fine, I will", r1));
    await page.getByRole("complementary", { name: "Thread" }).getByText("Fine, I will").waitFor();
    await waitFor(async () => ((await aliceCounts()).threads[root] === undefined ? true : undefined), "the live reply read");
    await page.getByRole("button", { name: "Close threads" }).click();
  }, 60000);

  test("URL previews: the first link of a message gets the server's preview card (title, description, image)", async () => {
    const url = `http://127.0.0.2:${site.port}/recipes/lemon`;
    const id = await bobSends({ msgtype: "m.text", body: `Try this one: ${url}` });
    const card = page.locator(`[data-event-id="${id}"]`).getByRole("link", { name: "Link preview: Lemon cake recipe" });
    await card.waitFor({ timeout: 20000 });
    await card.getByText("A sharp, light cake for Sunday").waitFor();
    expect(await card.getAttribute("href")).toBe(url);
    await page.waitForFunction((eid) => {
      const i = document.querySelector<HTMLImageElement>(`[data-event-id="${eid}"] .link-preview img`);
      return !!i && i.complete && i.naturalWidth > 0;
    }, id);
    await shot("everyday-url-preview");
  }, 60000);

  test("spaces: the switcher filters the room list to the space's rooms; the space's other rooms can be joined", async () => {
    const create = async (name: string, extra: Record<string, unknown> = {}) => (await bob.ok("POST", "/_matrix/client/v3/createRoom", { name, preset: "public_chat", ...extra })).room_id as string;
    const spaceId = await create("Family space", { creation_content: { type: "m.space" } });
    const kitchen = await create("Kitchen");
    const garden = await create("Garden", { topic: "Plants and plans" });
    for (const child of [kitchen, garden]) await bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(spaceId)}/state/m.space.child/${enc(child)}`, { via: ["localhost"] });
    for (const r of [spaceId, kitchen]) await alice.ok("POST", `/_matrix/client/v3/join/${enc(r)}`, {});
    const spaces = page.getByRole("toolbar", { name: "Spaces" });
    await spaces.getByRole("button", { name: "Family space" }).click({ timeout: 20000 });
    const nav = page.getByRole("navigation", { name: "Rooms" });
    await nav.getByRole("link", { name: /Kitchen/ }).waitFor();
    expect(await nav.getByRole("link", { name: /Everyday/ }).count()).toBe(0); // not in the space
    expect(await nav.getByRole("link", { name: /Family space/ }).count()).toBe(0); // the space is not a chat
    const home = nav.getByRole("region", { name: "Family space: rooms to join" });
    await home.getByText("Garden").waitFor();
    await shot("everyday-space");
    await home.getByRole("button", { name: "Join Garden" }).click();
    await page.getByRole("heading", { name: "Garden" }).waitFor();
    await nav.getByRole("link", { name: /Garden/ }).waitFor();
    await home.getByText("You are in every room of this space.").waitFor();
    await spaces.getByRole("button", { name: "All rooms" }).click();
    await nav.getByRole("link", { name: /Everyday/ }).first().waitFor();
    await nav.getByRole("link", { name: /Everyday/ }).first().click();
  }, 60000);

  test("people by name: a direct chat and an invite found through the user directory", async () => {
    const carol = await registerUser(s, "carol");
    await carol.ok("PUT", `/_matrix/client/v3/profile/${enc("@carol:localhost")}/displayname`, { displayname: "Carol Singer" });
    await carol.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {}).catch(() => undefined); // private room: refused, fine
    const pub = (await bob.ok("POST", "/_matrix/client/v3/createRoom", { name: "Choir", preset: "public_chat", visibility: "public" })).room_id;
    await carol.ok("POST", `/_matrix/client/v3/join/${enc(pub)}`, {});
    // A direct chat with "Bob Bui…", picked from the suggestions.
    await page.getByRole("button", { name: "Start a direct chat" }).click();
    const dm = page.getByRole("dialog", { name: "Start a direct chat" });
    await dm.getByLabel("User ID").fill("Bob Bui");
    await dm.getByRole("listbox", { name: "People found" }).getByRole("option", { name: /Bob Builder/ }).click();
    expect(await dm.getByLabel("User ID").inputValue()).toBe("@bob:localhost");
    await shot("everyday-dm-by-name");
    await dm.getByRole("button", { name: "Start chat" }).click();
    await page.waitForURL((u) => u.pathname.startsWith("/room/") && decodeURIComponent(u.pathname.slice(6)) !== roomId);
    await page.getByRole("textbox", { name: /^Message / }).waitFor();
    const dmRoom = decodeURIComponent(new URL(page.url()).pathname.split("/").pop()!);
    expect(dmRoom).not.toBe(roomId);
    const members = await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(dmRoom)}/state/m.room.member/${enc("@bob:localhost")}`);
    expect(members.membership).toBe("invite");
    // Inviting by a name the directory knows (typed whole, not picked).
    await page.getByRole("link", { name: /Everyday/ }).first().click();
    await page.getByRole("button", { name: /^(Show|Hide) members$/ }).waitFor();
    if (await page.getByRole("button", { name: "Show members" }).count()) await page.getByRole("button", { name: "Show members" }).click();
    const panel = page.getByRole("complementary", { name: "Members" });
    await panel.getByLabel("User ID to invite").fill("Carol Singer");
    await panel.getByRole("button", { name: "Invite" }).click();
    await waitFor(async () => ((await bob.request("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc("@carol:localhost")}`)).body?.membership === "invite" ? true : undefined), "carol invited by name");
    // A bare user name means a user of this server: the invite goes to @nobody-here:localhost, who does not exist.
    const sent = page.waitForRequest((r) => r.method() === "POST" && r.url().endsWith("/invite"));
    await panel.getByLabel("User ID to invite").fill("nobody-here");
    await panel.getByRole("button", { name: "Invite" }).click();
    expect((await sent).postDataJSON()).toEqual({ user_id: "@nobody-here:localhost" });
    await panel.getByRole("alert").waitFor(); // the server's refusal, shown in the form
  }, 60000);

  test("the room list shows a plain-text preview that follows edits", async () => {
    const id = await bobSends({ msgtype: "m.text", body: "**bold** plan", format: "org.matrix.custom.html", formatted_body: "<strong>bold</strong> plan" });
    const item = page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: /Everyday/ }).first();
    await item.getByText("bold plan").waitFor();
    await bobSends({ msgtype: "m.text", body: "* **better** plan", "m.new_content": { msgtype: "m.text", body: "**better** plan", format: "org.matrix.custom.html", formatted_body: "<strong>better</strong> plan" }, "m.relates_to": { rel_type: "m.replace", event_id: id } });
    await item.getByText("better plan").waitFor();
    expect(await item.textContent()).not.toContain("**");
  }, 30000);

  test("notification settings per room: mentions only, off, all — as push rules the server applies", async () => {
    await page.getByRole("button", { name: "Room settings" }).click();
    const settings = page.getByRole("dialog", { name: "Room settings" });
    await settings.getByRole("tab", { name: "Notifications" }).click();
    await settings.getByLabel("All messages").waitFor();
    expect(await settings.getByLabel("All messages").isChecked()).toBe(true);
    await settings.getByLabel("Mentions and keywords").check();
    const rules = async () => (await alice.ok("GET", "/_matrix/client/v3/pushrules/")).global;
    await waitFor(async () => ((await rules()).room.some((r: { rule_id: string }) => r.rule_id === roomId) ? true : undefined), "the room rule");
    expect((await rules()).room.find((r: { rule_id: string }) => r.rule_id === roomId).actions).toEqual([]);
    await shot("everyday-notifications");
    await page.keyboard.press("Escape");
    // The server counts nothing for a plain message now, but a mention still counts.
    await page.getByRole("link", { name: /Explore|Home/ }).first().click().catch(() => {});
    await page.goto(`${s.url}/settings`);
    await bobSends({ msgtype: "m.text", body: "plain, not for alice", "m.mentions": {} });
    const countsOf = async () => {
      const r = await alice.ok("GET", `/_matrix/client/v3/sync?filter=${enc(JSON.stringify({ room: { rooms: [roomId], timeline: { limit: 1 } } }))}`);
      return r.rooms.join[roomId].unread_notifications;
    };
    await waitFor(async () => ((await countsOf()).notification_count === 0 ? true : undefined), "no notification for a plain message");
    await bobSends({ msgtype: "m.text", body: "alice: for you", "m.mentions": { user_ids: ["@alice:localhost"] } });
    await waitFor(async () => ((await countsOf()).highlight_count >= 1 ? true : undefined), "the mention highlighted");
    // Off: an override rule; All messages: both rules gone.
    await page.goto(`${s.url}/room/${enc(roomId)}`);
    await page.getByRole("button", { name: "Room settings" }).click();
    await settings.getByRole("tab", { name: "Notifications" }).click();
    await settings.getByLabel("Off").check();
    await waitFor(async () => ((await rules()).override.some((r: { rule_id: string }) => r.rule_id === roomId) ? true : undefined), "the override rule");
    expect((await rules()).room.some((r: { rule_id: string }) => r.rule_id === roomId)).toBe(false);
    await settings.getByLabel("All messages").check();
    await waitFor(async () => {
      const g = await rules();
      return !g.override.some((r: { rule_id: string }) => r.rule_id === roomId) && !g.room.some((r: { rule_id: string }) => r.rule_id === roomId) ? true : undefined;
    }, "both rules removed");
    await page.keyboard.press("Escape");
  }, 60000);

  test("room settings: history visibility, guest access, addresses (main address, directory) and permissions", async () => {
    // alice gets admin power in bob's room to change its settings.
    const pl = await bob.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.power_levels/`);
    await bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.power_levels/`, { ...pl, users: { ...pl.users, "@alice:localhost": 100 } });
    await page.getByRole("button", { name: "Room settings" }).click();
    const settings = page.getByRole("dialog", { name: "Room settings" });
    await settings.getByLabel("Who can read the history").selectOption("joined");
    await settings.getByLabel(/Guests .* may join/).check();
    await settings.getByRole("button", { name: "Save" }).click();
    const state = (type: string) => alice.ok("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/${type}/`);
    await waitFor(async () => ((await state("m.room.history_visibility")).history_visibility === "joined" ? true : undefined), "history visibility");
    expect((await state("m.room.guest_access")).guest_access).toBe("can_join");

    await page.getByRole("button", { name: "Room settings" }).click();
    await settings.getByRole("tab", { name: "Addresses" }).click();
    await settings.getByText(/no address on localhost/).waitFor();
    await settings.getByLabel("New address").fill("everyday");
    await settings.getByRole("button", { name: "Add address" }).click();
    await settings.getByRole("list", { name: "Local addresses" }).getByText("#everyday:localhost").waitFor();
    await waitFor(async () => ((await state("m.room.canonical_alias")).alias === "#everyday:localhost" ? true : undefined), "the main address");
    expect((await alice.ok("GET", `/_matrix/client/v3/directory/room/${enc("#everyday:localhost")}`)).room_id).toBe(roomId);
    await settings.getByLabel(/List this room in localhost's public room directory/).check();
    await waitFor(async () => ((await alice.ok("GET", `/_matrix/client/v3/directory/list/room/${enc(roomId)}`)).visibility === "public" ? true : undefined), "published");
    await shot("everyday-room-addresses");

    await settings.getByRole("tab", { name: "Permissions" }).click();
    await settings.getByLabel("User ID for the role").fill("@carol:localhost");
    await settings.getByLabel("Role to give").selectOption("50");
    await settings.getByRole("button", { name: "Give role" }).click();
    await waitFor(async () => ((await state("m.room.power_levels")).users["@carol:localhost"] === 50 ? true : undefined), "carol a moderator");
    await settings.getByLabel("Who may: Invite people").selectOption("50");
    await waitFor(async () => ((await state("m.room.power_levels")).invite === 50 ? true : undefined), "invite needs moderator");
    // bob created the room (version 12): its owner, above every level; nobody can change that.
    await settings.getByRole("list", { name: "Roles" }).getByRole("listitem").filter({ hasText: "@bob:localhost" }).getByText("Owner").waitFor();
    expect(await settings.getByLabel("Role of @bob:localhost").count()).toBe(0);
    expect(await settings.getByLabel("Role of @carol:localhost").isDisabled()).toBe(false);
    await shot("everyday-permissions");
    await page.keyboard.press("Escape");
  }, 60000);

  test("# autocompletes my rooms' addresses into a room pill (not a user mention)", async () => {
    await composer().fill("");
    await composer().pressSequentially("see #every");
    await page.getByRole("listbox", { name: "Room suggestions" }).getByRole("option", { name: /#everyday:localhost/ }).waitFor();
    await composer().press("Enter");
    expect(await composer().inputValue()).toBe("see #everyday:localhost ");
    await composer().press("Enter");
    const sent = await waitFor(async () => (await latest()).find((e) => e.content.body === "see #everyday:localhost"), "the message with a room pill");
    expect(sent.content.formatted_body).toBe('see <a href="https://matrix.to/#/#everyday:localhost">#everyday:localhost</a>');
    expect(sent.content["m.mentions"]).toEqual({});
    await page.locator(`[data-event-id="${sent.event_id}"] .mention-pill.room`).waitFor();
  }, 30000);

  test("no script errors or CSP violations", () => {
    expect(errors).toEqual([]);
  });
});
