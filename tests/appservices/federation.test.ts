// Application services and other servers: typing and read receipts of users on another server, in a
// room the service is interested in, reach the service as ephemeral data (receive_ephemeral), like
// those of local users. Two servers over TLS, on both databases.
import { test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { registerUser, TestClient } from "../helpers/client.ts";
import { startFederatingServers, tempDir, type FederatingServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";
import { createRoom, enc, send } from "../helpers/sync.ts";
import { eventually } from "../helpers/wait.ts";
import { FakeAppservice } from "../helpers/appservice.ts";

const HS_TOKEN = "hs_fed_bridge";
const AS_TOKEN = "as_fed_bridge";

describeOnBackends("application services and remote users", (backend) => {
  const ctx = fixture<{ hs1: FederatingServer; hs2: FederatingServer; bridge: FakeAppservice }>(async (ctx) => {
    ctx.bridge = new FakeAppservice(HS_TOKEN);
    const file = join(tempDir("hs-asfed-"), "bridge.json");
    writeFileSync(
      file,
      JSON.stringify({
        id: "fedbridge",
        url: ctx.bridge.url,
        as_token: AS_TOKEN,
        hs_token: HS_TOKEN,
        sender_localpart: "fedbridge_bot",
        namespaces: { users: [{ exclusive: true, regex: "@fed_.*" }] },
        receive_ephemeral: true,
      }),
    );
    [ctx.hs1, ctx.hs2] = (await startFederatingServers(2, { backend, config: (i) => (i === 0 ? { appservices: { config_files: [file], retry_min_interval_ms: 20 } } : {}) })) as [FederatingServer, FederatingServer];
  }, { timeout: 60000, teardown: (ctx) => ctx.bridge?.stop() });

  test("a remote user's typing and read receipt reach the bridge", async () => {
    const alice = await registerUser(ctx.hs1, "alice");
    const bob = await registerUser(ctx.hs2, "bob");
    const roomId = await createRoom(alice, { preset: "public_chat" });
    // The bridge's ghost is in the room: the service is interested in it.
    const ghost = new TestClient(ctx.hs1.url, AS_TOKEN);
    await ghost.ok("POST", "/_matrix/client/v3/register", { type: "m.login.application_service", username: "fed_ghost" });
    await ghost.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?user_id=${enc(`@fed_ghost:${ctx.hs1.serverName}`)}`, {});
    await bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?via=${enc(ctx.hs1.serverName)}`, {});
    const msg = await send(alice, roomId, "hello bob");
    await eventually(async () => ((await bob.request("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(msg)}`)).status === 200 ? true : undefined), 15000, "the message on hs2");

    await bob.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(bob.userId!)}`, { typing: true, timeout: 20000 });
    await bob.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(msg)}`, {});
    await eventually(async () => (ctx.bridge.ephemeral().some((e) => e.type === "m.typing" && e.room_id === roomId && e.content.user_ids.includes(bob.userId)) ? true : undefined), 15000, "bob's typing at the bridge");
    await eventually(async () => (ctx.bridge.ephemeral().some((e) => e.type === "m.receipt" && e.room_id === roomId && e.content[msg]?.["m.read"]?.[bob.userId!]) ? true : undefined), 15000, "bob's receipt at the bridge");
  }, 60000);
});
