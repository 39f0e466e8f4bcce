// Events of a user erased on deactivation (erase: true) are served to other servers redacted
// (GET /event, /backfill, /get_missing_events), as Synapse does (SyTest "Inbound federation redacts
// events from erased users"); before the erasure they are served whole.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { type FederatingServer } from "../helpers/server.ts";
import { federatedPair } from "../helpers/suite.ts";
import { createRoom, enc } from "../helpers/sync.ts";
import { eventually } from "../helpers/wait.ts";

describe("erased users' events over federation", () => {
  let hs1: FederatingServer;
  let hs2: FederatingServer;
  let alice: TestClient;
  let bob: TestClient;
  beforeAll(async () => {
    ({ hs1, hs2, alice, bob } = await federatedPair());
  }, 60000);
  afterAll(async () => {
    await hs1?.stop();
    await hs2?.stop();
  });

  test("GET /event of an erased user's message gives it redacted", async () => {
    const erin = await registerUser(hs1, "erin");
    const roomId = await createRoom(alice, { preset: "public_chat" });
    await erin.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
    await bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}?server_name=${enc(hs1.serverName)}`, {});
    const said = (await erin.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/e1`, { msgtype: "m.text", body: "erase me" })).event_id;
    const fetch = async () => ((await hs1.hs.services.roomFederation.serve.event(hs2.serverName, said)) as { pdus: any[] }).pdus[0];
    await eventually(async () => ((await fetch())?.content?.body === "erase me" ? true : undefined), 15000, "the message served whole");
    const first = await erin.post("/_matrix/client/v3/account/deactivate", { erase: true });
    await erin.ok("POST", "/_matrix/client/v3/account/deactivate", {
      erase: true,
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: erin.userId }, password: "password", session: first.body.session },
    });
    const after = await fetch();
    expect(after.content).toEqual({});
    expect(after.signatures).toBeDefined();
    // Another user's event is untouched.
    const kept = (await alice.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/a1`, { msgtype: "m.text", body: "still here" })).event_id;
    const alices = ((await hs1.hs.services.roomFederation.serve.event(hs2.serverName, kept)) as { pdus: any[] }).pdus[0];
    expect(alices.content.body).toBe("still here");
  }, 60000);
});
