// Interoperability with a real Synapse 1.67 (issue 17): one hs server and one Synapse
// (../shared/synapse-1.67/synapse-peer), shared by every test of this file, federating over TLS
// on loopback. Rooms are version 10 (Synapse 1.67 has no 11 or 12). E2EE runs matrix-js-sdk's Rust
// crypto on both sides. Skipped, with one line, when the Synapse kit or its Python packages are absent.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { startFederatingServers, type FederatingServer } from "../helpers/server.ts";
import { startSynapsePeer, synapseUnavailable, type SynapsePeer } from "../helpers/synapse.ts";
import { eventually } from "../helpers/wait.ts";
import { TestDevice } from "../e2ee/helpers.ts";
import type { MatrixClient } from "matrix-js-sdk";
import { cryptoClient, decryptedBody, quietCryptoLogs, waitFor } from "../e2ee/sdk-crypto.ts";

const enc = encodeURIComponent;
const why = synapseUnavailable();

let txn = 0;
const send = (c: TestClient, roomId: string, body: string) =>
  c.ok<{ event_id: string }>("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/i${++txn}_${Date.now()}`, { msgtype: "m.text", body });

/** The membership of `userId` in `roomId` as `c`'s server sees it. */
async function membership(c: TestClient, roomId: string, userId: string): Promise<string | undefined> {
  const r = await c.request("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}`);
  return r.status === 200 ? r.body.membership : undefined;
}

/** Waits until `c` can read a message with this body in the room (the newest 50 events). */
async function seesMessage(c: TestClient, roomId: string, body: string, timeoutMs = 30000): Promise<any> {
  return eventually(async () => {
    const r = await c.request("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`);
    return r.status === 200 ? (r.body.chunk as any[]).find((e) => e.type === "m.room.message" && e.content?.body === body) : undefined;
  }, timeoutMs, `${c.userId} to see "${body}"`, 200);
}

async function joinVia(c: TestClient, roomId: string, server: string): Promise<void> {
  await eventually(async () => {
    const r = await c.request("POST", `/_matrix/client/v3/join/${enc(roomId)}?server_name=${enc(server)}`, {});
    return r.status === 200 ? true : undefined;
  }, 30000, `${c.userId} to join ${roomId}`, 500);
}

if (!why) quietCryptoLogs();

if (why) {
  test.skip(`Synapse interop tests skipped: ${why}`, () => {});
} else {
  describe("interop with Synapse 1.67", () => {
    let hs: FederatingServer;
    let syn: SynapsePeer;
    let alice: TestClient; // on hs
    let bob: TestClient; // on Synapse
    beforeAll(async () => {
      const [h, s] = await Promise.all([startFederatingServers(1, { config: { room_directory: { public_rooms_over_federation: true } } }).then((x) => x[0]!), startSynapsePeer()]);
      hs = h;
      syn = s;
      alice = await registerUser(hs, "alice");
      bob = await registerUser(syn, "bob");
    }, 120000);
    const sdkClients: MatrixClient[] = [];
    afterAll(async () => {
      for (const c of sdkClients) c.stopClient();
      await syn?.stop();
      await hs?.stop();
    });

    let hsRoom: string; // created on hs, bob joined
    let synRoom: string; // created on Synapse, alice joined

    test("Synapse joins a room on hs (v10); messages both ways", async () => {
      hsRoom = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10", name: "hs room" })).room_id;
      await send(alice, hsRoom, "before bob");
      await joinVia(bob, hsRoom, hs.serverName);
      await eventually(async () => ((await membership(alice, hsRoom, bob.userId!)) === "join" ? true : undefined), 30000, "bob's join on hs");
      await seesMessage(bob, hsRoom, "before bob");
      await send(alice, hsRoom, "hello synapse");
      await send(bob, hsRoom, "hello hs");
      await seesMessage(bob, hsRoom, "hello synapse");
      await seesMessage(alice, hsRoom, "hello hs");
    }, 90000);

    test("hs joins a room on Synapse (v10); messages both ways", async () => {
      synRoom = (await bob.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10", name: "synapse room" })).room_id;
      for (let i = 0; i < 3; i++) await send(bob, synRoom, `early ${i}`);
      await joinVia(alice, synRoom, syn.serverName);
      await eventually(async () => ((await membership(bob, synRoom, alice.userId!)) === "join" ? true : undefined), 30000, "alice's join on Synapse");
      await seesMessage(alice, synRoom, "early 2");
      await send(alice, synRoom, "from hs");
      await send(bob, synRoom, "from synapse");
      await seesMessage(bob, synRoom, "from hs");
      await seesMessage(alice, synRoom, "from synapse");
    }, 90000);

    test("invites both ways, accepted and rejected", async () => {
      // hs → Synapse
      const r1 = (await alice.ok("POST", "/_matrix/client/v3/createRoom", { room_version: "10", invite: [bob.userId] })).room_id;
      await eventually(async () => (await bob.ok("GET", "/_matrix/client/v3/sync?timeout=0")).rooms?.invite?.[r1], 30000, "invite on Synapse", 300);
      await bob.ok("POST", `/_matrix/client/v3/join/${enc(r1)}`, {});
      await eventually(async () => ((await membership(alice, r1, bob.userId!)) === "join" ? true : undefined), 30000, "bob joined after invite");
      // Synapse → hs
      const r2 = (await bob.ok("POST", "/_matrix/client/v3/createRoom", { room_version: "10", invite: [alice.userId] })).room_id;
      await eventually(async () => (await alice.ok("GET", "/_matrix/client/v3/sync?timeout=0")).rooms?.invite?.[r2], 30000, "invite on hs", 300);
      await alice.ok("POST", `/_matrix/client/v3/join/${enc(r2)}`, {});
      await eventually(async () => ((await membership(bob, r2, alice.userId!)) === "join" ? true : undefined), 30000, "alice joined after invite");
      // Synapse → hs, rejected
      const r3 = (await bob.ok("POST", "/_matrix/client/v3/createRoom", { room_version: "10", invite: [alice.userId] })).room_id;
      await eventually(async () => (await alice.ok("GET", "/_matrix/client/v3/sync?timeout=0")).rooms?.invite?.[r3], 30000, "second invite on hs", 300);
      await alice.ok("POST", `/_matrix/client/v3/rooms/${enc(r3)}/leave`, {});
      await eventually(async () => ((await membership(bob, r3, alice.userId!)) === "leave" ? true : undefined), 30000, "rejection on Synapse");
    }, 120000);

    test("profiles both ways (whole profile and one field)", async () => {
      await alice.ok("PUT", `/_matrix/client/v3/profile/${enc(alice.userId!)}/displayname`, { displayname: "Alice on hs" });
      await bob.ok("PUT", `/_matrix/client/v3/profile/${enc(bob.userId!)}/displayname`, { displayname: "Bob on Synapse" });
      expect((await alice.ok("GET", `/_matrix/client/v3/profile/${enc(bob.userId!)}`)).displayname).toBe("Bob on Synapse");
      expect(await alice.ok("GET", `/_matrix/client/v3/profile/${enc(bob.userId!)}/displayname`)).toEqual({ displayname: "Bob on Synapse" });
      // Synapse asks hs with ?field=: an unset avatar must not make the whole profile 404.
      expect((await bob.ok("GET", `/_matrix/client/v3/profile/${enc(alice.userId!)}`)).displayname).toBe("Alice on hs");
      expect(await bob.ok("GET", `/_matrix/client/v3/profile/${enc(alice.userId!)}/displayname`)).toEqual({ displayname: "Alice on hs" });
    }, 60000);

    test("device keys queried both ways; to-device messages both ways", async () => {
      const da = new TestDevice(alice);
      const db = new TestDevice(bob);
      await da.upload(3);
      await db.upload(3);
      const q1 = await alice.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [bob.userId!]: [] } });
      expect(q1.device_keys?.[bob.userId!]?.[bob.deviceId!]).toMatchObject(db.deviceKeys());
      const q2 = await bob.ok("POST", "/_matrix/client/v3/keys/query", { device_keys: { [alice.userId!]: [] } });
      expect(q2.device_keys?.[alice.userId!]?.[alice.deviceId!]).toMatchObject(da.deviceKeys());
      // One-time keys claimed across servers.
      const c1 = await alice.ok("POST", "/_matrix/client/v3/keys/claim", { one_time_keys: { [bob.userId!]: { [bob.deviceId!]: "signed_curve25519" } } });
      expect(Object.keys(c1.one_time_keys?.[bob.userId!]?.[bob.deviceId!] ?? {})[0]).toStartWith("signed_curve25519:");
      const c2 = await bob.ok("POST", "/_matrix/client/v3/keys/claim", { one_time_keys: { [alice.userId!]: { [alice.deviceId!]: "signed_curve25519" } } });
      expect(Object.keys(c2.one_time_keys?.[alice.userId!]?.[alice.deviceId!] ?? {})[0]).toStartWith("signed_curve25519:");

      const toDevice = async (from: TestClient, to: TestClient, text: string) => {
        await from.ok("PUT", `/_matrix/client/v3/sendToDevice/m.test/${++txn}`, { messages: { [to.userId!]: { [to.deviceId!]: { text } } } });
        await eventually(async () => {
          const s = await to.ok("GET", "/_matrix/client/v3/sync?timeout=0");
          return (s.to_device?.events as any[] | undefined)?.find((e) => e.type === "m.test" && e.content?.text === text && e.sender === from.userId);
        }, 30000, `to-device "${text}"`, 300);
      };
      await toDevice(alice, bob, "hs to synapse");
      await toDevice(bob, alice, "synapse to hs");
    }, 90000);

    test("500 events backfilled from Synapse are paged to the start, in order", async () => {
      const N = 500;
      const room = (await bob.ok("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_version: "10" })).room_id;
      for (let i = 0; i < N; i += 25) await Promise.all(Array.from({ length: 25 }, (_, j) => send(bob, room, `b${i + j}`)));
      // Concurrent sends: the order is Synapse's. Read it there.
      const synOrder: string[] = [];
      let from: string | undefined;
      for (;;) {
        const page: any = await bob.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=100${from ? `&from=${enc(from)}` : ""}`);
        for (const e of page.chunk) if (e.type === "m.room.message") synOrder.push(e.content.body);
        if (!page.end || page.chunk.length === 0) break;
        from = page.end;
      }
      expect(synOrder.length).toBe(N);
      await joinVia(alice, room, syn.serverName);
      const seen: string[] = [];
      const types: string[] = [];
      from = undefined;
      for (let pages = 0; pages < 100; pages++) {
        const page: any = await alice.ok("GET", `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=30${from ? `&from=${enc(from)}` : ""}`);
        for (const e of page.chunk) {
          types.push(e.type);
          if (e.type === "m.room.message") seen.push(e.content.body);
        }
        if (!page.end || page.chunk.length === 0) break;
        from = page.end;
      }
      expect(seen).toEqual(synOrder);
      expect(types[types.length - 1]).toBe("m.room.create");
    }, 240000);

    test("media both ways", async () => {
      const bytesA = new TextEncoder().encode("file from hs ".repeat(40));
      const upA = await alice.request("POST", "/_matrix/media/v3/upload?filename=a.txt", bytesA, { "Content-Type": "text/plain" });
      expect(upA.status).toBe(200);
      const [, , srvA, idA] = (upA.body.content_uri as string).split("/");
      // Synapse 1.67 fetches hs's file on the legacy path, signed with X-Matrix.
      const gotA = await fetch(`${syn.url}/_matrix/media/v3/download/${srvA}/${idA}`, { headers: { Authorization: `Bearer ${bob.accessToken}` } });
      expect(gotA.status).toBe(200);
      expect(new Uint8Array(await gotA.arrayBuffer())).toEqual(bytesA);

      const bytesB = new TextEncoder().encode("file from synapse ".repeat(40));
      const upB = await bob.request("POST", "/_matrix/media/v3/upload?filename=b.txt", bytesB, { "Content-Type": "text/plain" });
      expect(upB.status).toBe(200);
      const [, , srvB, idB] = (upB.body.content_uri as string).split("/");
      // hs asks with the authenticated federation endpoint first and falls back to the legacy one.
      const gotB = await fetch(`${hs.url}/_matrix/client/v1/media/download/${srvB}/${idB}`, { headers: { Authorization: `Bearer ${alice.accessToken}` } });
      expect(gotB.status).toBe(200);
      expect(new Uint8Array(await gotB.arrayBuffer())).toEqual(bytesB);
    }, 60000);

    test("public room directories over federation, both ways", async () => {
      await alice.ok("PUT", `/_matrix/client/v3/directory/list/room/${enc(hsRoom)}`, { visibility: "public" });
      await bob.ok("PUT", `/_matrix/client/v3/directory/list/room/${enc(synRoom)}`, { visibility: "public" });
      const fromSyn = await eventually(async () => {
        const r = await bob.request("GET", `/_matrix/client/v3/publicRooms?server=${enc(hs.serverName)}`);
        return r.status === 200 && (r.body.chunk as any[]).some((x) => x.room_id === hsRoom) ? r.body : undefined;
      }, 30000, "hs's directory through Synapse", 500);
      expect(fromSyn.chunk.find((x: any) => x.room_id === hsRoom).name).toBe("hs room");
      const fromHs = await alice.ok("POST", `/_matrix/client/v3/publicRooms?server=${enc(syn.serverName)}`, { limit: 10 });
      expect((fromHs.chunk as any[]).find((x) => x.room_id === synRoom)?.name).toBe("synapse room");
    }, 60000);

    test("E2EE: matrix-js-sdk's Rust crypto on hs and on Synapse; each decrypts the other's messages", async () => {
      const aUser = await registerUser(hs, "e2ealice");
      const bUser = await registerUser(syn, "e2ebob");
      const a = await cryptoClient(hs, aUser, sdkClients);
      const b = await cryptoClient(syn, bUser, sdkClients);
      const { room_id: roomId } = await a.createRoom({
        preset: "private_chat" as never,
        room_version: "10",
        invite: [b.getUserId()!],
        initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
      });
      await waitFor(() => (b.getRoom(roomId)?.getMyMembership() === "invite" ? true : undefined), "the invite on Synapse");
      await b.joinRoom(roomId, { viaServers: [hs.serverName] });
      await waitFor(() => (a.getRoom(roomId)?.getMember(b.getUserId()!)?.membership === "join" ? true : undefined), "the join seen on hs");
      for (const [c, who] of [[a, "hs"], [b, "Synapse"]] as const) {
        await waitFor(async () => ((await c.getCrypto()!.isEncryptionEnabledInRoom(roomId)) ? true : undefined), `encryption on in the ${who} client`);
      }
      await a.sendTextMessage(roomId, "secret from hs");
      const ev = await waitFor(() => decryptedBody(b, roomId, "secret from hs"), "Synapse's user decrypting hs's message", 60000);
      expect(ev.getWireType()).toBe("m.room.encrypted");
      await b.sendTextMessage(roomId, "secret from Synapse");
      await waitFor(() => decryptedBody(a, roomId, "secret from Synapse"), "hs's user decrypting Synapse's message", 60000);
    }, 180000);

    test("Synapse catches up after a restart: messages sent while it was down arrive", async () => {
      await syn.restart(async () => {
        for (let i = 0; i < 3; i++) await send(alice, hsRoom, `while down ${i}`);
      });
      // hs retries once Synapse is back (it contacts hs, or the back-off expires); a new message also wakes it.
      await send(alice, hsRoom, "after restart");
      await seesMessage(bob, hsRoom, "after restart", 60000);
      for (let i = 0; i < 3; i++) await seesMessage(bob, hsRoom, `while down ${i}`, 60000);
    }, 180000);
  });
}
