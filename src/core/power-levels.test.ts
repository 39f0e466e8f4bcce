import { describe, expect, test } from "bun:test";
import type { JsonObject } from "../protocol/events.ts";
import {
  CREATOR_POWER_LEVEL,
  domainOf,
  effectivePowerLevels,
  eventLevel,
  isValidUserIdForAuth,
  notificationsLevel,
  parsePowerLevelValue,
  roomCreators,
  userLevel,
  validatePowerLevelsContent,
} from "./power-levels.ts";
import { getRoomVersion } from "./room-versions.ts";

const A = "@alice:example.com";
const B = "@bob:example.com";
const C = "@carol:example.com";
const v1 = getRoomVersion("1");
const v6 = getRoomVersion("6");
const v9 = getRoomVersion("9");
const v10 = getRoomVersion("10");
const v11 = getRoomVersion("11");
const v12 = getRoomVersion("12");

const create = (content: JsonObject, sender = A) => ({ sender, content });

describe("parsePowerLevelValue", () => {
  test("integers everywhere", () => {
    for (const rv of [v1, v6, v10, v12]) {
      expect(parsePowerLevelValue(50, rv)).toBe(50);
      expect(parsePowerLevelValue(-7, rv)).toBe(-7);
      expect(parsePowerLevelValue(0, rv)).toBe(0);
    }
  });

  test("strings in v1–v9 (v1-stringy-power-levels)", () => {
    for (const rv of [v1, v6, v9]) {
      expect(parsePowerLevelValue("100", rv)).toBe(100);
      expect(parsePowerLevelValue("000100", rv)).toBe(100);
      expect(parsePowerLevelValue("+100", rv)).toBe(100);
      expect(parsePowerLevelValue("-100", rv)).toBe(-100);
      expect(parsePowerLevelValue(" 100 ", rv)).toBe(100);
      expect(parsePowerLevelValue(" 00100 ", rv)).toBe(100);
      expect(parsePowerLevelValue(" +100 ", rv)).toBe(100);
      expect(parsePowerLevelValue("\t-100\n", rv)).toBe(-100);
      expect(parsePowerLevelValue("1.5", rv)).toBeUndefined();
      expect(parsePowerLevelValue("1e3", rv)).toBeUndefined();
      expect(parsePowerLevelValue("+-1", rv)).toBeUndefined();
      expect(parsePowerLevelValue("", rv)).toBeUndefined();
      expect(parsePowerLevelValue("abc", rv)).toBeUndefined();
      expect(parsePowerLevelValue("0x10", rv)).toBeUndefined();
    }
  });

  test("no strings from v10", () => {
    expect(parsePowerLevelValue("100", v10)).toBeUndefined();
    expect(parsePowerLevelValue("100", v12)).toBeUndefined();
  });

  test("floats truncated in v1–v5 (v1-floaty-power-levels), rejected later", () => {
    expect(parsePowerLevelValue(50.57, v1)).toBe(50);
    expect(parsePowerLevelValue(5.114698e4, v1)).toBe(51146);
    expect(parsePowerLevelValue(-0.5, v1)).toBe(0);
    expect(Object.is(parsePowerLevelValue(-0.5, v1), -0)).toBe(false);
    expect(parsePowerLevelValue(JSON.parse("1e400"), v1)).toBeUndefined();
    expect(parsePowerLevelValue(50.5, v6)).toBeUndefined();
    expect(parsePowerLevelValue(50.5, v10)).toBeUndefined();
  });

  test("other JSON types are never levels", () => {
    for (const rv of [v1, v10]) {
      expect(parsePowerLevelValue(null, rv)).toBeUndefined();
      expect(parsePowerLevelValue(true, rv)).toBeUndefined();
      expect(parsePowerLevelValue([1], rv)).toBeUndefined();
      expect(parsePowerLevelValue({}, rv)).toBeUndefined();
      expect(parsePowerLevelValue(undefined, rv)).toBeUndefined();
    }
  });
});

describe("effective power levels", () => {
  test("defaults without a power levels event (v1–v11): creator 100, others 0", () => {
    for (const [rv, c] of [
      [v1, create({ creator: A })],
      [v10, create({ creator: A })],
      [v11, create({})],
    ] as const) {
      const pl = effectivePowerLevels(undefined, c, rv);
      expect(pl.present).toBe(false);
      expect(userLevel(pl, A)).toBe(100);
      expect(userLevel(pl, B)).toBe(0);
      expect(eventLevel(pl, "m.room.topic", true)).toBe(50);
      expect(eventLevel(pl, "m.room.message", false)).toBe(0);
      expect([pl.ban, pl.kick, pl.redact, pl.invite]).toEqual([50, 50, 50, 0]);
      expect(notificationsLevel(pl, "room")).toBe(50);
    }
  });

  test("v1–v10 read content.creator; v11 the sender", () => {
    expect(userLevel(effectivePowerLevels(undefined, create({ creator: B }), v10), B)).toBe(100);
    expect(userLevel(effectivePowerLevels(undefined, create({ creator: B }), v10), A)).toBe(0);
    expect(userLevel(effectivePowerLevels(undefined, create({ creator: B }), v11), A)).toBe(100);
    expect(userLevel(effectivePowerLevels(undefined, create({ creator: B }), v11), B)).toBe(0);
  });

  test("with a power levels event the creator has no special level before v12", () => {
    const pl = effectivePowerLevels({ users: { [B]: 50 }, users_default: 10 }, create({}), v11);
    expect(userLevel(pl, A)).toBe(10);
    expect(userLevel(pl, B)).toBe(50);
  });

  test("v12: creators and additional creators have infinite power, always", () => {
    const c = create({ additional_creators: [B, "junk"] });
    for (const content of [undefined, { users: { [C]: 100 }, users_default: 5 }]) {
      const pl = effectivePowerLevels(content, c, v12);
      expect(userLevel(pl, A)).toBe(CREATOR_POWER_LEVEL);
      expect(userLevel(pl, B)).toBe(CREATOR_POWER_LEVEL);
      expect(userLevel(pl, C)).toBe(content ? 100 : 0);
      expect(userLevel(pl, C) < userLevel(pl, B)).toBe(true);
    }
    expect([...roomCreators(c, v12)]).toEqual([A, B]);
    expect([...roomCreators(c, v11)]).toEqual([A]);
    expect([...roomCreators(create({ creator: C }), v1)]).toEqual([C]);
  });

  test("explicit levels, stringy values and fallbacks", () => {
    const content = {
      users: { [A]: "100", [B]: "x" },
      users_default: "5",
      events: { "m.room.name": 60, "m.bad": "bad" },
      events_default: 1,
      state_default: 2,
      ban: 3,
      kick: 4,
      redact: 6,
      invite: 7,
      notifications: { room: 20, other: 30 },
    };
    const pl = effectivePowerLevels(content, create({ creator: A }), v9);
    expect(userLevel(pl, A)).toBe(100);
    expect(userLevel(pl, B)).toBe(5); // unparsable entry: users_default
    expect(eventLevel(pl, "m.room.name", true)).toBe(60);
    expect(eventLevel(pl, "m.room.name", false)).toBe(60);
    expect(eventLevel(pl, "m.bad", true)).toBe(2);
    expect(eventLevel(pl, "m.room.topic", true)).toBe(2);
    expect(eventLevel(pl, "m.room.message", false)).toBe(1);
    expect([pl.ban, pl.kick, pl.redact, pl.invite]).toEqual([3, 4, 6, 7]);
    expect(notificationsLevel(pl, "room")).toBe(20);
    expect(notificationsLevel(pl, "other")).toBe(30);
    expect(notificationsLevel(pl, "missing")).toBe(50);
    // The same content in v10 ignores the strings.
    const pl10 = effectivePowerLevels(content, create({ creator: A }), v10);
    expect(userLevel(pl10, A)).toBe(0);
    expect(pl10.usersDefault).toBe(0);
  });

  test("parsed levels are cached per content object", () => {
    const content = { users: { [A]: 100 } };
    const c = create({});
    expect(effectivePowerLevels(content, c, v11)).toBe(effectivePowerLevels(content, c, v11));
    expect(effectivePowerLevels(content, c, v11)).not.toBe(effectivePowerLevels(content, c, v12));
  });
});

describe("validatePowerLevelsContent", () => {
  test("users", () => {
    expect(validatePowerLevelsContent({}, v1)).toBeUndefined();
    expect(validatePowerLevelsContent({ users: { [A]: 1 } }, v1)).toBeUndefined();
    expect(validatePowerLevelsContent({ users: { [A]: "1" } }, v1)).toBeUndefined();
    expect(validatePowerLevelsContent({ users: { [A]: "1" } }, v10)).toMatch(/integer/);
    expect(validatePowerLevelsContent({ users: { alice: 1 } }, v1)).toMatch(/user ID/);
    expect(validatePowerLevelsContent({ users: 5 }, v1)).toMatch(/object/);
  });

  test("v10+: named levels, events and notifications must be integers", () => {
    expect(validatePowerLevelsContent({ ban: "50" }, v9)).toBeUndefined();
    expect(validatePowerLevelsContent({ ban: "50" }, v10)).toMatch(/ban/);
    expect(validatePowerLevelsContent({ invite: null }, v10)).toMatch(/invite/);
    expect(validatePowerLevelsContent({ events: { x: "1" } }, v10)).toMatch(/events/);
    expect(validatePowerLevelsContent({ events: [] }, v10)).toMatch(/events/);
    expect(validatePowerLevelsContent({ notifications: { room: 1.5 } }, v12)).toMatch(/notifications/);
    expect(validatePowerLevelsContent({ ban: 50, events: { x: 1 }, notifications: { room: 0 } }, v12)).toBeUndefined();
  });
});

describe("identifiers", () => {
  test("isValidUserIdForAuth", () => {
    expect(isValidUserIdForAuth(A)).toBe(true);
    expect(isValidUserIdForAuth("@:x")).toBe(false);
    expect(isValidUserIdForAuth("@a:")).toBe(false);
    expect(isValidUserIdForAuth("a:b")).toBe(false);
    expect(isValidUserIdForAuth("@ab")).toBe(false);
    expect(isValidUserIdForAuth("@" + "a".repeat(250) + ":example.com")).toBe(false);
    expect(isValidUserIdForAuth("@Legacy.User!:example.com")).toBe(true);
    expect(isValidUserIdForAuth(5)).toBe(false);
  });
  test("domainOf", () => {
    expect(domainOf("@a:example.com:8448")).toBe("example.com:8448");
    expect(domainOf("$abc:example.org")).toBe("example.org");
    expect(domainOf("nope")).toBe("");
  });
});
