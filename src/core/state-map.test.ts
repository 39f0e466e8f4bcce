import { describe, expect, test } from "bun:test";
import {
  CREATE_KEY,
  eventStateMapKey,
  memberKey,
  parseStateMapKey,
  stateMapEntries,
  stateMapFromEntries,
  stateMapKey,
  stateMapOfEvents,
  stateMapsEqual,
} from "./state-map.ts";

describe("state map keys", () => {
  test("round trip, including empty and odd state keys", () => {
    for (const [t, s] of [
      ["m.room.create", ""],
      ["m.room.member", "@a:b"],
      ["x", "with\u0000nul"],
      ["", ""],
    ] as const) {
      expect(parseStateMapKey(stateMapKey(t, s))).toEqual([t, s]);
    }
    expect(() => parseStateMapKey("nope")).toThrow();
    expect(memberKey("@a:b")).toBe(stateMapKey("m.room.member", "@a:b"));
    expect(CREATE_KEY).toBe(stateMapKey("m.room.create", ""));
  });

  test("event keys: only state events have one", () => {
    expect(eventStateMapKey({ type: "m.room.topic", state_key: "" })).toBe(stateMapKey("m.room.topic", ""));
    expect(eventStateMapKey({ type: "m.room.message" })).toBeUndefined();
  });

  test("conversions and equality", () => {
    const m = stateMapOfEvents([
      { type: "a", state_key: "", id: 1 },
      { type: "m", id: 2 },
      { type: "a", state_key: "", id: 3 },
    ]);
    expect(m.size).toBe(1);
    expect(m.get(stateMapKey("a", ""))!.id).toBe(3);
    const ids = stateMapFromEntries([["a", "", "$1"], ["b", "x", "$2"]] as const);
    expect(stateMapEntries(ids)).toEqual([["a", "", "$1"], ["b", "x", "$2"]]);
    expect(stateMapsEqual(ids, new Map(ids))).toBe(true);
    expect(stateMapsEqual(ids, new Map([...ids].slice(1)))).toBe(false);
  });
});
