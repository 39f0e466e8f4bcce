// Verifying OTHER users in the web client (Chromium), against matrix-js-sdk with its Rust crypto
// standing in for Element: an in-room verification request in the direct chat (m.key.verification.*
// as room events), emoji (SAS) compared on both sides, both identities cross-signed afterwards, and
// the trust shown in the member list and the room header. Both directions: started from the web
// client's member list, and started by the js-sdk user (requestVerificationDM). Also the recovery
// passphrase: set up with one, restored in a fresh browser with it. Any script error or CSP
// violation fails it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { MatrixClient } from "matrix-js-sdk";
import { deriveRecoveryKeyFromPassphrase } from "matrix-js-sdk/lib/crypto-api/key-passphrase.js";
import { decodeRecoveryKey } from "matrix-js-sdk/lib/crypto-api/recovery-key.js";
import { CryptoEvent } from "matrix-js-sdk/lib/crypto-api/CryptoEvent.js";
import { VerificationPhase, VerifierEvent, type VerificationRequest } from "matrix-js-sdk/lib/crypto-api/verification.js";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { sasFromSdk } from "./sas.ts";
import { ensureWebBuilt } from "../../scripts/build-web.ts";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { cryptoClient, quietCryptoLogs, waitFor } from "../e2ee/sdk-crypto.ts";
import { CHROMIUM, CHROMIUM_ARGS, haveChromium, watchedPage } from "./chromium.ts";

quietCryptoLogs();
const ENCRYPTION = { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } };

/** A js-sdk client with Rust crypto and its own cross-signing identity. */
async function crossSignedClient(s: TestServer, user: TestClient, started: MatrixClient[]): Promise<MatrixClient> {
  const c = await cryptoClient(s, user, started);
  await c.getCrypto()!.bootstrapCrossSigning({
    authUploadDeviceSigningKeys: async (makeRequest) => {
      await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: user.userId! }, password: "password" } as never);
    },
  });
  return c;
}

describe.skipIf(!haveChromium)("web client: verifying other users with emoji, and a recovery passphrase", () => {
  let s: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const started: MatrixClient[] = [];
  const errors: string[] = [];
  let page: Page;
  let bob: MatrixClient;
  let aliceApi: TestClient; // alice through the API (another device), to read what the server shows her
  let carol: MatrixClient;
  let bobRoom = "";
  let carolRoom = "";
  const alice = "@alice:localhost";

  async function signIn(p: Page) {
    await p.goto(s.url);
    await p.getByLabel("User name").fill("alice");
    await p.getByLabel("Password").fill("alice-password");
    await p.getByRole("button", { name: "Sign in" }).click();
    await p.getByRole("navigation", { name: "Rooms" }).waitFor();
  }

  /** A DM from an sdk user to alice, accepted in the web client. */
  async function dmFrom(c: MatrixClient, name: RegExp): Promise<string> {
    const { room_id } = await c.createRoom({ preset: "trusted_private_chat" as never, is_direct: true, invite: [alice], initial_state: [ENCRYPTION] });
    await page.getByRole("region", { name: "Invites" }).getByRole("link", { name }).click({ timeout: 20000 });
    await page.getByRole("button", { name: "Accept" }).click();
    await waitFor(() => (c.getRoom(room_id)?.getMember(alice)?.membership === "join" ? true : undefined), "alice's join");
    return room_id;
  }

  /** Opens the member list of the room on screen (unless it is open). */
  async function showMembers(p: Page) {
    await p.getByRole("button", { name: /^(Show|Hide) members$/ }).waitFor({ timeout: 20000 });
    if (await p.getByRole("button", { name: "Show members" }).count()) await p.getByRole("button", { name: "Show members" }).click();
    await p.getByRole("complementary", { name: "Members" }).waitFor();
  }

  beforeAll(async () => {
    await ensureWebBuilt();
    s = await startTestServer();
    aliceApi = await registerUser(s, "alice", "alice-password");
    bob = await crossSignedClient(s, await registerUser(s, "bob"), started);
    carol = await crossSignedClient(s, await registerUser(s, "carol"), started);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 60000);

  afterAll(async () => {
    for (const c of started) c.stopClient();
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await s?.stop();
  });

  test("verifying someone needs this device's cross-signing keys: the web client says so", async () => {
    page = await watchedPage(browser, contexts, errors);
    await signIn(page);
    bobRoom = await dmFrom(bob, /bob/);
    await showMembers(page);
    const row = page.getByRole("complementary", { name: "Members" }).locator(".member", { hasText: "@bob:localhost" });
    await row.getByText("Not verified").waitFor({ timeout: 20000 });
    await page.locator(".room-head").getByText("Not verified").waitFor();
    await row.getByRole("button", { name: /Actions for/ }).click();
    await page.getByRole("menuitem", { name: "Verify with emoji" }).click();
    await page.getByText(/Set up recovery .* first/).waitFor();
  }, 60000);

  test("recovery with a passphrase: set up from settings (cross-signing, secret storage, backup)", async () => {
    await page.getByRole("button", { name: "Your profile and settings" }).click();
    const card = page.getByRole("region", { name: "Encryption" });
    await card.getByRole("button", { name: "Set up recovery" }).click();
    const confirm = page.getByRole("dialog", { name: "Set up recovery" });
    await confirm.getByLabel("Your password").fill("alice-password");
    await confirm.getByLabel(/Recovery passphrase/).fill("correct horse battery staple");
    await confirm.getByRole("button", { name: "Confirm" }).click();
    const shown = page.getByRole("dialog", { name: "Your recovery key" });
    await shown.getByLabel("Recovery key").waitFor({ timeout: 30000 });
    const recoveryKey = (await shown.getByLabel("Recovery key").textContent())!.trim();
    await shown.getByRole("button", { name: "I have saved it" }).click();
    await card.getByText(/Recovery is set up/).waitFor();
    // The key description says how to derive the key from the passphrase (m.pbkdf2), as Element reads it.
    const me = JSON.parse((await page.evaluate(() => localStorage.getItem("hs.session")))!) as { accessToken: string };
    const get = async (type: string) => (await fetch(`${s.url}/_matrix/client/v3/user/${encodeURIComponent(alice)}/account_data/${type}`, { headers: { Authorization: `Bearer ${me.accessToken}` } })).json();
    const keyId = (await get("m.secret_storage.default_key")).key as string;
    const desc = await get(`m.secret_storage.key.${keyId}`);
    expect(desc.passphrase.algorithm).toBe("m.pbkdf2");
    expect(desc.passphrase.iterations).toBeGreaterThanOrEqual(100000);
    expect(typeof desc.passphrase.salt).toBe("string");
    // matrix-js-sdk (Element) derives the same key from the passphrase; the recovery key shown is that key.
    const derived = await deriveRecoveryKeyFromPassphrase("correct horse battery staple", desc.passphrase.salt, desc.passphrase.iterations);
    expect(Buffer.from(derived).equals(Buffer.from(decodeRecoveryKey(recoveryKey)))).toBe(true);
    await page.getByRole("button", { name: "Back to chats" }).click();
  }, 60000);

  test("web → js-sdk: alice verifies bob from the member list; both identities end up verified", async () => {
    let sdkEmoji: string[] = [];
    let received: VerificationRequest | undefined;
    const onRequest = (req: VerificationRequest) => {
      received = req;
      void req.accept().then(() =>
        waitFor(() => req.verifier, "the web client starting SAS").then((v) => {
          v.on(VerifierEvent.ShowSas, (sas) => {
            sdkEmoji = (sas.sas.emoji ?? []).map(([, name]) => name);
            void sas.confirm();
          });
          void v.verify().catch(() => {});
        }),
      );
    };
    bob.on(CryptoEvent.VerificationRequestReceived, onRequest);
    await page.getByRole("link", { name: /bob/ }).first().click();
    await showMembers(page);
    const row = page.getByRole("complementary", { name: "Members" }).locator(".member", { hasText: "@bob:localhost" });
    await row.getByRole("button", { name: /Actions for/ }).click();
    await page.getByRole("menuitem", { name: "Verify with emoji" }).click();
    const dialog = page.getByRole("dialog", { name: "Verify user" });
    const list = dialog.getByRole("list", { name: "Emoji to compare" });
    await list.waitFor({ timeout: 30000 });
    expect(received?.roomId).toBe(bobRoom); // in the DM, not to-device
    await waitFor(() => (sdkEmoji.length ? true : undefined), "js-sdk showing the emoji");
    expect((await list.locator("li .small").allTextContents()).map((t) => t.trim())).toEqual(sdkEmoji);
    await dialog.getByRole("button", { name: "They match" }).click();
    await dialog.getByText(/Verified:/).waitFor({ timeout: 20000 });
    await dialog.getByRole("button", { name: "Done" }).click();
    bob.off(CryptoEvent.VerificationRequestReceived, onRequest);
    await row.getByText("Verified").waitFor({ timeout: 20000 });
    await page.locator(".room-head").getByText("Verified").waitFor();
    // The request shows in the timeline as a line, not as the fallback text.
    await page.getByText(/asked bob to verify each other with emoji|asked .* to verify each other/).first().waitFor();
    // bob's client trusts alice's identity (the web client signed bob's, and bob signed alice's).
    await waitFor(async () => ((await bob.getCrypto()!.getUserVerificationStatus(alice)).isCrossSigningVerified() ? true : undefined), "bob trusting alice");
    // bob's master key gets a signature of alice's user-signing key (which only alice is shown).
    await waitFor(async () => {
      const q = await aliceApi.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { "@bob:localhost": [] } });
      return Object.keys(q.master_keys["@bob:localhost"].signatures ?? {}).includes(alice) ? true : undefined;
    }, "alice's signature on bob's master key");
  }, 90000);

  test("js-sdk → web: carol asks alice in their DM; alice accepts and compares emoji", async () => {
    carolRoom = await dmFrom(carol, /carol/);
    await waitFor(async () => ((await carol.getCrypto()!.getUserDeviceInfo([alice], true)).get(alice)?.size ? true : undefined), "carol knowing alice's devices");
    const req = await carol.getCrypto()!.requestVerificationDM(alice, carolRoom);
    const dialog = page.getByRole("dialog", { name: "Verify user" });
    await dialog.getByText(/@carol:localhost .*wants to verify you/).waitFor({ timeout: 30000 });
    await dialog.getByRole("button", { name: "Accept" }).click();
    await waitFor(() => (req.phase === VerificationPhase.Ready ? true : undefined), "the request accepted");
    const { verified: done } = await sasFromSdk(req, dialog, 30000);
    await dialog.getByRole("button", { name: "They match" }).click();
    await done;
    await dialog.getByText(/Verified:/).waitFor({ timeout: 20000 });
    await dialog.getByRole("button", { name: "Done" }).click();
    await waitFor(async () => ((await carol.getCrypto()!.getUserVerificationStatus(alice)).isCrossSigningVerified() ? true : undefined), "carol trusting alice");
    await showMembers(page);
    await page.getByRole("complementary", { name: "Members" }).locator(".member", { hasText: "@carol:localhost" }).getByText("Verified").waitFor({ timeout: 20000 });
  }, 90000);

  test("a new browser restores with the recovery passphrase (a wrong one is refused)", async () => {
    const fresh = await watchedPage(browser, contexts, errors);
    await signIn(fresh);
    await fresh.getByRole("button", { name: "Your profile and settings" }).click();
    const card = fresh.getByRole("region", { name: "Encryption" });
    await card.getByRole("button", { name: "Restore with recovery key" }).click();
    const dialog = fresh.getByRole("dialog", { name: "Restore with recovery key" });
    await dialog.getByLabel("Recovery key").fill("correct horse battery stapler");
    await dialog.getByRole("button", { name: "Restore" }).click();
    await dialog.getByText(/does not match/).waitFor({ timeout: 30000 });
    await dialog.getByLabel("Recovery key").fill("correct horse battery staple");
    await dialog.getByRole("button", { name: "Restore" }).click();
    await fresh.getByText(/Restored: \d+ message keys?/).waitFor({ timeout: 30000 });
    await card.getByText(/Recovery is set up/).waitFor();
    // The restored cross-signing keys carry the trust: bob is verified in this browser too.
    await fresh.getByRole("button", { name: "Back to chats" }).click();
    await fresh.getByRole("link", { name: /bob/ }).first().click();
    await showMembers(fresh);
    await fresh.getByRole("complementary", { name: "Members" }).locator(".member", { hasText: "@bob:localhost" }).getByText("Verified").waitFor({ timeout: 20000 });
  }, 90000);

  test("no script errors or CSP violations", () => {
    expect(errors).toEqual([]);
  });
});
