// device_list_changes housekeeping: superseded changes older than the horizon go, each user's latest
// stays, and /keys/changes and /sync report the same users as before pruning. On both databases.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { registerUser, type TestClient } from "../helpers/client.ts";
import { BACKENDS, startTestServer, type TestServer } from "../helpers/server.ts";
import { createRoom, enc, sync } from "../helpers/sync.ts";
import { TestDevice } from "./helpers.ts";

for (const backend of BACKENDS) {
  describe(`device list change pruning [${backend}]`, () => {
    let s: TestServer;
    let alice: TestClient;
    let bob: TestClient;
    beforeAll(async () => {
      s = await startTestServer({ backend });
      alice = await registerUser(s, "dlp_alice");
      bob = await registerUser(s, "dlp_bob");
    });
    afterAll(() => s.stop());

    test("only superseded rows below the horizon are deleted; the answers do not change", async () => {
      const roomId = await createRoom(alice, { preset: "public_chat" });
      await bob.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
      const since = (await sync(alice)).next_batch;
      // Bob's devices change three times.
      const dev = new TestDevice(bob);
      await dev.upload(1);
      await bob.ok("PUT", `/_matrix/client/v3/devices/${enc(bob.deviceId!)}`, { display_name: "phone" });
      await bob.ok("PUT", `/_matrix/client/v3/devices/${enc(bob.deviceId!)}`, { display_name: "phone 2" });
      const rows = async () => (await s.hs.db.all<{ user_id: string }>("SELECT user_id FROM device_list_changes WHERE user_id = ?", [bob.userId!])).length;
      const before = await rows();
      expect(before).toBeGreaterThanOrEqual(3);
      const changes = async () => (await alice.ok("GET", `/_matrix/client/v3/keys/changes?from=${enc(since)}&to=${enc((await sync(alice)).next_batch)}`)).changed;
      expect(await changes()).toContain(bob.userId);

      // A horizon below everything: nothing goes.
      expect(await s.hs.services.e2ee.deviceLists.prune(0)).toBe(0);
      // Past everything: bob keeps his latest row only.
      const deleted = await s.hs.services.e2ee.deviceLists.prune(s.hs.services.streams.current() + 1);
      expect(deleted).toBe(before - 1);
      expect(await rows()).toBe(1);
      expect(await changes()).toContain(bob.userId);
      const incremental = await sync(alice, { since });
      expect(incremental.device_lists.changed).toContain(bob.userId);
    });
  });
}
