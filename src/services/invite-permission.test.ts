import { describe, expect, test } from "bun:test";
import { MatrixError } from "../protocol/errors.ts";
import type { JsonObject } from "../protocol/events.ts";
import type { AccountData, AccountDataHook } from "./account-data.ts";
import { blocksInvites, INVITE_PERMISSION_CONFIG, InvitePermission } from "./invite-permission.ts";

describe("blocksInvites", () => {
  test("only default_action \"block\" blocks", () => {
    expect(blocksInvites({ default_action: "block" })).toBe(true);
    expect(blocksInvites({ default_action: "block", other: 1 })).toBe(true);
  });
  test("missing, invalid or unsupported values do not", () => {
    for (const c of [undefined, {}, { default_action: "allow" }, { default_action: "Block" }, { default_action: " block" }, { default_action: null }, { default_action: true }, { default_action: ["block"] }, { default_action: { block: true } }]) {
      expect(blocksInvites(c as JsonObject | undefined)).toBe(false);
    }
  });
});

describe("InvitePermission", () => {
  function fake(initial: Record<string, JsonObject>) {
    const stored = new Map(Object.entries(initial));
    let reads = 0;
    const onChange: AccountDataHook[] = [];
    const accountData = {
      onChange,
      get: async (userId: string, roomId: string, type: string) => {
        reads++;
        return roomId === "" && type === INVITE_PERMISSION_CONFIG ? stored.get(userId) : undefined;
      },
    } as unknown as AccountData;
    const set = (userId: string, content: JsonObject) => {
      stored.set(userId, content);
      for (const h of onChange) h(userId, "", INVITE_PERMISSION_CONFIG);
    };
    return { accountData, set, reads: () => reads };
  }

  test("reads each user's setting once, and again after it changes", async () => {
    const f = fake({ "@a:x": { default_action: "block" } });
    const p = new InvitePermission(f.accountData);
    expect(await p.blocked("@a:x")).toBe(true);
    expect(await p.blocked("@a:x")).toBe(true);
    expect(await p.blocked("@b:x")).toBe(false);
    expect(await p.blocked("@b:x")).toBe(false);
    expect(f.reads()).toBe(2);
    f.set("@a:x", {});
    expect(await p.blocked("@a:x")).toBe(false);
    expect(f.reads()).toBe(3);
  });

  test("check refuses with 403 M_INVITE_BLOCKED", async () => {
    const f = fake({ "@a:x": { default_action: "block" } });
    const p = new InvitePermission(f.accountData);
    const e = await p.check("@a:x").then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(MatrixError);
    expect((e as MatrixError).errcode).toBe("M_INVITE_BLOCKED");
    expect((e as MatrixError).status).toBe(403);
    await p.check("@b:x");
  });

  test("other account data types and room account data leave the cache alone", async () => {
    const f = fake({});
    const p = new InvitePermission(f.accountData);
    expect(await p.blocked("@a:x")).toBe(false);
    for (const h of f.accountData.onChange) {
      h("@a:x", "", "m.direct");
      h("@a:x", "!r:x", INVITE_PERMISSION_CONFIG);
    }
    expect(await p.blocked("@a:x")).toBe(false);
    expect(f.reads()).toBe(1);
  });
});
