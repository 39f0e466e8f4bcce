// End-to-end encryption for application services (both databases), against fake services on
// loopback: MSC2409 to-device messages in transactions (`de.sorunome.msc2409.to_device` with
// to_user_id/to_device_id, `*` expanded, only for services with push_ephemeral; kept in the inbox
// for /sync except for MSC3202 services' exclusive users), MSC3202 one-time key counts, unused
// fallback key types and device list changes (keys uploaded through the as_token with user_id and
// org.matrix.msc3202.device_id), and to-device messages surviving a restart while the service is down.
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, tempDir, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { TestClient, registerUser } from "../helpers/client.ts";
import { assertRequestMatchesSpec } from "../helpers/openapi.ts";
import { createRoom, enc, sync } from "../helpers/sync.ts";
import { waitFor } from "../helpers/wait.ts";
import { FakeAppservice, type Transaction } from "../helpers/appservice.ts";
import { TestDevice } from "../e2ee/helpers.ts";

/** An as_token client acting as one of the service's users and one of its devices (MSC3202 masquerading). */
class MasqueradingClient extends TestClient {
  constructor(baseUrl: string, asToken: string, userId: string, deviceId: string) {
    super(baseUrl, asToken, userId, deviceId);
  }
  override request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const q = `user_id=${enc(this.userId!)}&org.matrix.msc3202.device_id=${enc(this.deviceId!)}`;
    return super.request<T>(method, `${path}${path.includes("?") ? "&" : "?"}${q}`, body, headers);
  }
}

function registrationFile(dir: string, doc: Record<string, unknown>): string {
  const path = join(dir, `${doc.id}.json`);
  writeFileSync(path, JSON.stringify(doc));
  return path;
}

const registration = (id: string, prefix: string, fake: FakeAppservice, extra: Record<string, unknown>) => ({
  id,
  url: fake.url,
  as_token: `as_${id}_0123456789`,
  hs_token: fake.hsToken,
  sender_localpart: `${prefix}bot`,
  namespaces: { users: [{ exclusive: true, regex: `@${prefix}.*:localhost` }], aliases: [], rooms: [] },
  ...extra,
});

describeOnBackends("application services and end-to-end encryption", (backend) => {
  // MSC2409 + MSC3202 (a bridge doing encryption through transactions), MSC2409 only, neither.
  const crypto = new FakeAppservice("hs_crypto_0123456789");
  const eph = new FakeAppservice("hs_eph_0123456789");
  const plain = new FakeAppservice("hs_plain_0123456789");

  /** Registers a ghost of the service and creates its devices. */
  const ghost = async (bot: TestClient, localpart: string, devices: string[]): Promise<string> => {
    const r = await bot.ok("POST", "/_matrix/client/v3/register", { type: "m.login.application_service", username: localpart, inhibit_login: true });
    for (const d of devices) await bot.ok("PUT", `/_matrix/client/v3/devices/${d}?user_id=${enc(r.user_id)}`, {});
    return r.user_id;
  };
  const ghostSync = async (bot: TestClient, userId: string, deviceId: string) =>
    (await bot.ok("GET", `/_matrix/client/v3/sync?timeout=0&user_id=${enc(userId)}&device_id=${enc(deviceId)}`)).to_device.events;

  const ctx = fixture<{ s: TestServer; cryptoBot: TestClient; ephBot: TestClient; plainBot: TestClient; alice: TestClient }>(async (ctx) => {
    const dir = tempDir("hs-as-e2ee-");
    const files = [
      registrationFile(dir, registration("crypto", "_cb_", crypto, { "de.sorunome.msc2409.push_ephemeral": true, "org.matrix.msc3202": true })),
      registrationFile(dir, registration("eph", "_eb_", eph, { receive_ephemeral: true })),
      registrationFile(dir, registration("plain", "_pb_", plain, {})),
    ];
    ctx.s = await startTestServer({
      backend,
      config: { registration: { enabled: true }, appservices: { config_files: files, retry_min_interval_ms: 20 } },
    });
    ctx.cryptoBot = new TestClient(ctx.s.url, "as_crypto_0123456789");
    ctx.ephBot = new TestClient(ctx.s.url, "as_eph_0123456789");
    ctx.plainBot = new TestClient(ctx.s.url, "as_plain_0123456789");
    ctx.alice = await registerUser(ctx.s, "alice");
  }, { teardown: () => {
    for (const f of [crypto, eph, plain]) f.stop();
  } });

  test("MSC2409: to-device messages to the service's users, `*` expanded; not for services without push_ephemeral", async () => {
    const cb = await ghost(ctx.cryptoBot, "_cb_g1", ["CB1", "CB2"]);
    const eb = await ghost(ctx.ephBot, "_eb_g1", ["EB1"]);
    const pb = await ghost(ctx.plainBot, "_pb_g1", ["PB1"]);
    await ctx.alice.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test.hello/t1", {
      messages: { [cb]: { CB1: { n: 1 } }, [eb]: { "*": { n: 2 } }, [pb]: { PB1: { n: 3 } } },
    });
    await ctx.alice.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test.hello/t2", { messages: { [cb]: { "*": { n: 4 } } } });

    const toCrypto = await waitFor("both messages to the crypto bridge", () => (crypto.toDevice().length >= 3 ? crypto.toDevice() : undefined));
    const key = (e: any) => `${e.content.n}/${e.to_device_id}`;
    expect(toCrypto.map(key).sort()).toEqual(["1/CB1", "4/CB1", "4/CB2"]);
    expect(toCrypto[0]).toEqual({ type: "m.test.hello", sender: ctx.alice.userId, content: { n: 1 }, to_user_id: cb, to_device_id: "CB1" });
    const toEph = await waitFor("the message to the ephemeral-only bridge", () => (eph.toDevice().length >= 1 ? eph.toDevice() : undefined));
    expect(toEph).toEqual([{ type: "m.test.hello", sender: ctx.alice.userId, content: { n: 2 }, to_user_id: eb, to_device_id: "EB1" }]);
    for (const t of [...crypto.transactions(), ...eph.transactions()]) {
      assertRequestMatchesSpec("application-service/transactions", "PUT", "/transactions/{txnId}", t.body);
    }
    // Without MSC3202 there is no device data.
    expect(eph.transactions().some((t) => Object.keys(t.body).some((k) => k.startsWith("org.matrix.msc3202")))).toBe(false);

    // The plain service's transactions are in stream order: once an event after the message
    // reached it, it would have had the message.
    const roomId = await createRoom(ctx.plainBot, {});
    await waitFor("the plain bridge's room", () => plain.transactions().some((t) => t.body.events.some((e: any) => e.room_id === roomId)));
    expect(plain.transactions().some((t) => "de.sorunome.msc2409.to_device" in t.body || "to_device" in t.body)).toBe(false);

    // /sync still delivers the messages of the ephemeral-only bridge's and the plain bridge's
    // ghosts; those of an MSC3202 bridge's exclusive users moved into its transactions.
    expect((await ghostSync(ctx.ephBot, eb, "EB1")).map((e: any) => e.content)).toEqual([{ n: 2 }]);
    expect((await ghostSync(ctx.plainBot, pb, "PB1")).map((e: any) => e.content)).toEqual([{ n: 3 }]);
    expect(await ghostSync(ctx.cryptoBot, cb, "CB1")).toEqual([]);
    expect(await ghostSync(ctx.cryptoBot, cb, "CB2")).toEqual([]);
  });

  test("MSC3202: keys uploaded with user_id and org.matrix.msc3202.device_id; counts and fallback types after uploads and claims", async () => {
    const userId = await ghost(ctx.cryptoBot, "_cb_k1", ["K1"]);
    const dev = new TestDevice(new MasqueradingClient(ctx.s.url, "as_crypto_0123456789", userId, "K1"));
    expect((await dev.client.ok("GET", "/_matrix/client/v3/account/whoami")).device_id).toBe("K1");
    const up = await dev.upload(5, true);
    expect(up.one_time_key_counts.signed_curve25519).toBe(5);
    const countsOf = (t: Transaction) => t.body["org.matrix.msc3202.device_one_time_keys_count"]?.[userId]?.K1;
    const first = await waitFor("the counts after the upload", () => crypto.transactions().find((t) => countsOf(t)?.signed_curve25519 === 5));
    expect(first.body["org.matrix.msc3202.device_one_time_key_counts"]).toEqual(first.body["org.matrix.msc3202.device_one_time_keys_count"]);
    expect(first.body["org.matrix.msc3202.device_unused_fallback_key_types"][userId].K1).toEqual(["signed_curve25519"]);
    // The ghost's new device keys are a device list change of one of the service's users.
    await waitFor("the ghost in device_lists.changed", () =>
      crypto.transactions().some((t) => (t.body["org.matrix.msc3202.device_lists"]?.changed ?? []).includes(userId)),
    );
    // The keys are the device's.
    const q = await ctx.alice.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [userId]: [] } });
    expect(Object.keys(q.device_keys[userId])).toEqual(["K1"]);

    // Someone claims a one-time key: the service learns the new count.
    const claimed = await ctx.alice.ok("POST", "/_matrix/client/v3/keys/claim", { one_time_keys: { [userId]: { K1: "signed_curve25519" } } });
    expect(Object.keys(claimed.one_time_keys[userId].K1)).toHaveLength(1);
    await waitFor("the count after the claim", () => crypto.transactions().some((t) => countsOf(t)?.signed_curve25519 === 4));
    // Once the one-time keys are gone the fallback key is handed out: no unused fallback key any more.
    for (let i = 0; i < 5; i++) await ctx.alice.ok("POST", "/_matrix/client/v3/keys/claim", { one_time_keys: { [userId]: { K1: "signed_curve25519" } } });
    await waitFor("the used fallback key", () =>
      crypto.transactions().some((t) => countsOf(t)?.signed_curve25519 === 0 && t.body["org.matrix.msc3202.device_unused_fallback_key_types"][userId].K1.length === 0),
    );
  });

  test("MSC3202: device list changes of users sharing a room with the service's users; left once they share none", async () => {
    const g = await ghost(ctx.cryptoBot, "_cb_d1", ["D1"]);
    const carol = await registerUser(ctx.s, "carol");
    const dave = await registerUser(ctx.s, "dave");
    const roomId = await createRoom(carol, { preset: "public_chat" });
    await ctx.cryptoBot.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?user_id=${enc(g)}`);
    await waitFor("the ghost's join", () => crypto.transactions().some((t) => t.body.events.some((e: any) => e.room_id === roomId && e.state_key === g)));
    // dave shares no room with the service's users: his change is not the service's business.
    await new TestDevice(dave).upload(1, false);
    await new TestDevice(carol).upload(1, false);
    const changed = (t: Transaction): string[] => t.body["org.matrix.msc3202.device_lists"]?.changed ?? [];
    await waitFor("carol in device_lists.changed", () => crypto.transactions().some((t) => changed(t).includes(carol.userId!)));
    expect(crypto.transactions().some((t) => changed(t).includes(dave.userId!))).toBe(false);

    await carol.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
    const t = await waitFor("carol in device_lists.left", () =>
      crypto.transactions().find((t) => (t.body["org.matrix.msc3202.device_lists"]?.left ?? []).includes(carol.userId!)),
    );
    expect(changed(t)).not.toContain(carol.userId);
    assertRequestMatchesSpec("application-service/transactions", "PUT", "/transactions/{txnId}", t.body);
  });

  test("to-device messages wait for a service that is down, across a restart", async () => {
    const g = await ghost(ctx.cryptoBot, "_cb_r1", ["R1"]);
    // Everything so far delivered (transactions go in stream order), then the service fails.
    await ctx.alice.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test.up/r0", { messages: { [g]: { R1: {} } } });
    await waitFor("the message before the outage", () => crypto.toDevice().some((e) => e.type === "m.test.up"));
    crypto.failTransactions = 1_000_000;
    await ctx.alice.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test.down/r1", { messages: { [g]: { R1: { n: 1 } } } });
    await waitFor("a failed attempt with the first message", () =>
      crypto.attempts().some((a) => (a.body["de.sorunome.msc2409.to_device"] ?? []).some((e: any) => e.type === "m.test.down")),
    );
    // Behind the failing transaction, only in device_inbox when the server stops.
    await ctx.alice.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test.down/r2", { messages: { [g]: { R1: { n: 2 } } } });
    await ctx.s.restart();
    crypto.failTransactions = 0;
    expect((await ctx.cryptoBot.post("/_matrix/client/v1/appservice/crypto/ping", {})).status).toBe(200);
    const got = await waitFor("both messages after the restart", () => {
      const n = crypto.toDevice().filter((e) => e.type === "m.test.down").map((e) => e.content.n);
      return n.length >= 2 ? n : undefined;
    });
    expect(got).toEqual([1, 2]);
    expect(await ghostSync(ctx.cryptoBot, g, "R1")).toEqual([]);
  });
});
