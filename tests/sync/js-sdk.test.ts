// matrix-js-sdk's sync loop against hs: typing, receipts, unread counts, account data and tags
// reach a real client.
import { expect, test } from "bun:test";
import { NotificationCountType } from "matrix-js-sdk";
import { sdkPair, startSyncing } from "../helpers/sdk.ts";
import { describeOnBackends } from "../helpers/suite.ts";

const syncOpts = { initialSyncLimit: 10, lazyLoadMembers: true };

function waitFor<T>(fn: () => T | undefined | false, timeoutMs = 10000): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      const v = fn();
      if (v !== undefined && v !== false) return resolve(v);
      if (Date.now() - started > timeoutMs) return reject(new Error("timed out"));
      setTimeout(tick, 20);
    };
    tick();
  });
}

describeOnBackends("matrix-js-sdk sync", (backend) => {
  const pair = sdkPair(backend);

  test("typing, receipts, unread counts, account data and tags through the sync loop", async () => {
    const { s, alice, bob } = pair;
    await startSyncing(alice, syncOpts);
    await startSyncing(bob, syncOpts);
    const { room_id: roomId } = await alice.createRoom({ name: "Ephemeral", preset: "public_chat" as never });
    await bob.joinRoom(roomId);
    await waitFor(() => alice.getRoom(roomId)?.getMember(bob.getUserId()!)?.membership === "join");

    // Typing.
    await bob.sendTyping(roomId, true, 20000);
    await waitFor(() => alice.getRoom(roomId)?.getMember(bob.getUserId()!)?.typing === true);
    await bob.sendTyping(roomId, false, 0);
    await waitFor(() => alice.getRoom(roomId)?.getMember(bob.getUserId()!)?.typing === false);

    // Unread counts from the server's push rules.
    const { event_id: e1 } = await bob.sendTextMessage(roomId, "hello alice");
    await bob.sendMessage(roomId, { msgtype: "m.text", body: "@alice look", "m.mentions": { user_ids: [alice.getUserId()!] } } as never);
    await waitFor(() => alice.getRoom(roomId)?.getUnreadNotificationCount(NotificationCountType.Total) === 2);
    expect(alice.getRoom(roomId)!.getUnreadNotificationCount(NotificationCountType.Highlight)).toBe(1);

    // A read receipt from alice reaches bob and clears alice's counts.
    const ev = alice.getRoom(roomId)!.findEventById(e1)!;
    await alice.sendReadReceipt(ev);
    await waitFor(() => bob.getRoom(roomId)?.getUsersReadUpTo(ev).includes(alice.getUserId()!));
    const last = await waitFor(() => alice.getRoom(roomId)?.getLiveTimeline().getEvents().at(-1));
    await alice.sendReadReceipt(last);
    await waitFor(() => alice.getRoom(roomId)?.getUnreadNotificationCount(NotificationCountType.Total) === 0);

    // Account data and tags.
    await alice.setAccountData("org.example.sdk" as never, { hello: "world" } as never);
    await waitFor(() => alice.getAccountData("org.example.sdk" as never)?.getContent().hello === "world");
    await alice.setRoomTag(roomId, "m.favourite", { order: 0.5 });
    await waitFor(() => alice.getRoom(roomId)?.tags["m.favourite"]?.order === 0.5);
    // Push rules are there from the initial sync.
    expect(alice.pushRules?.global.override?.some((r) => r.rule_id === ".m.rule.master")).toBe(true);
  }, 60000);
});
