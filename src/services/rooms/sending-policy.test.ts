import { describe, expect, test } from "bun:test";
import { MatrixError } from "../../protocol/errors.ts";
import { refuseSuspendedState, requesterOf, senderId, shadowDropsState, shadowEventId, txnKey } from "./sending-policy.ts";

const who = { userId: "@a:hs", deviceId: "D", tokenHash: "h1" };

describe("sending policy", () => {
  test("a bare user ID is the server acting: no requester, no policy", () => {
    expect(requesterOf("@a:hs")).toBeUndefined();
    expect(senderId("@a:hs")).toBe("@a:hs");
    expect(senderId(who)).toBe("@a:hs");
    expect(requesterOf(who)).toBe(who);
  });

  test("suspended: only one's own leave is allowed as state", () => {
    const s = { ...who, isSuspended: true };
    expect(() => refuseSuspendedState(s, "m.room.member", "@a:hs", { membership: "leave" })).not.toThrow();
    for (const [type, key, content] of [
      ["m.room.member", "@b:hs", { membership: "leave" }],
      ["m.room.member", "@a:hs", { membership: "join" }],
      ["m.room.topic", "", { topic: "x" }],
    ] as const) {
      let err: unknown;
      try {
        refuseSuspendedState(s, type, key, content);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MatrixError);
      expect((err as MatrixError).errcode).toBe("M_USER_SUSPENDED");
    }
    expect(() => refuseSuspendedState(who, "m.room.topic", "", { topic: "x" })).not.toThrow();
  });

  test("shadow-banned: invites and non-membership state are dropped; joins and leaves are not", () => {
    expect(shadowDropsState("m.room.topic", { topic: "x" })).toBe(true);
    expect(shadowDropsState("m.room.member", { membership: "invite" })).toBe(true);
    expect(shadowDropsState("m.room.member", { membership: "join" })).toBe(false);
    expect(shadowDropsState("m.room.member", { membership: "leave" })).toBe(false);
  });

  test("the fake event ID: an event ID, the same for a retried transaction, different per session and request", () => {
    const id = shadowEventId(who, "send\u0000!r:hs\u0000t1");
    expect(id).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
    expect(shadowEventId(who, "send\u0000!r:hs\u0000t1")).toBe(id);
    expect(shadowEventId({ ...who, tokenHash: "h2" }, "send\u0000!r:hs\u0000t1")).not.toBe(id);
    expect(shadowEventId(who, "send\u0000!r:hs\u0000t2")).not.toBe(id);
    expect(txnKey("t1")).toBe("t1");
    expect(txnKey(undefined)).not.toBe(txnKey(undefined));
  });
});
