import { describe, expect, test } from "bun:test";
import {
  InvalidIdError,
  MAX_ID_BYTES,
  findServerNameOf,
  isCompliantUserId,
  isIPv6Address,
  isStrictUserId,
  isValidDeviceId,
  isValidEventId,
  isValidNamespacedId,
  isValidOpaqueId,
  isValidRoomAlias,
  isOpaqueRoomId,
  isValidRoomId,
  isValidServerName,
  isValidUserId,
  isValidUserLocalpart,
  localpartOf,
  makeUserId,
  parseEventId,
  parseRoomAlias,
  parseRoomId,
  parseServerName,
  parseUserId,
  serverNameOf,
  utf8ByteLength,
  type EventId,
  type RoomId,
  type ServerName,
  type UserId,
} from "./ids.ts";

const HASH = "Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg"; // the spec's v4 event ID example, minus `$`

describe("server names", () => {
  test("the appendix examples", () => {
    expect<unknown>(parseServerName("matrix.org")).toEqual({ id: "matrix.org", host: "matrix.org", kind: "dns", port: undefined });
    expect<unknown>(parseServerName("matrix.org:8888")).toEqual({ id: "matrix.org:8888", host: "matrix.org", kind: "dns", port: 8888 });
    expect<unknown>(parseServerName("1.2.3.4")).toEqual({ id: "1.2.3.4", host: "1.2.3.4", kind: "ipv4", port: undefined });
    expect<unknown>(parseServerName("1.2.3.4:1234")).toEqual({ id: "1.2.3.4:1234", host: "1.2.3.4", kind: "ipv4", port: 1234 });
    expect<unknown>(parseServerName("[1234:5678::abcd]")).toEqual({ id: "[1234:5678::abcd]", host: "[1234:5678::abcd]", kind: "ipv6", port: undefined });
    expect<unknown>(parseServerName("[1234:5678::abcd]:5678")).toEqual({ id: "[1234:5678::abcd]:5678", host: "[1234:5678::abcd]", kind: "ipv6", port: 5678 });
  });

  test("valid", () => {
    for (const s of ["localhost", "a", "MATRIX.ORG", "x-y.example", "-x.example", "a.b.c.d.e", "[::1]", "[::]", "[::ffff:1.2.3.4]:80", "[1:2:3:4:5:6:7:8]", "1.2.3.4:0", "h:65535", "999.1.1.1"]) {
      expect({ s, ok: isValidServerName(s) }).toEqual({ s, ok: true });
    }
    expect(parseServerName("999.1.1.1")!.kind).toBe("dns"); // not an IPv4 literal, but DNS-name grammar
  });

  test("invalid", () => {
    for (const s of [
      "", ":80", "a..b", ".a", "a.", "a_b.org", "exa mple.org", "ex@mple", "a:", "a:65536", "a:123456", "a:-1", "a:8a", "a:b:1",
      "[::1", "[::1]x", "[::1]:", "[g::1]", "[1:2:3:4:5:6:7:8:9]", "[1::2::3]", "[:::]", "[::1%eth0]", "1234:5678::abcd", "[12345::]",
      "é.org", "a".repeat(256),
    ]) {
      expect({ s, ok: isValidServerName(s) }).toEqual({ s, ok: false });
    }
  });

  test("IPv6 literals", () => {
    for (const s of ["::", "::1", "1::", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "fe80::1:2", "ABCD:ef01::"]) {
      expect({ s, ok: isIPv6Address(s) }).toEqual({ s, ok: true });
    }
    for (const s of ["", ":", "1", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "::1.2.3.256", "1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "::1::", "12345::", ":1::", "1::2:"]) {
      expect({ s, ok: isIPv6Address(s) }).toEqual({ s, ok: false });
    }
  });
});

describe("user IDs", () => {
  test("strict grammar", () => {
    for (const s of ["@alice:example.org", "@a.b_c=d-e/f+g:example.org", "@0:[::1]:8448", "@x:1.2.3.4"]) {
      expect({ s, strict: isStrictUserId(s) }).toEqual({ s, strict: true });
    }
    expect(isValidUserLocalpart("Alice")).toBe(false);
    expect(isValidUserLocalpart("")).toBe(false);
    expect(isValidUserLocalpart("a b")).toBe(false);
    expect(isValidUserLocalpart("a*b")).toBe(false);
  });

  test("historical grammar accepted on receipt, with its compliance level", () => {
    expect<unknown>(parseUserId("@Alice:example.org")).toEqual({ id: "@Alice:example.org", localpart: "Alice", serverName: "example.org", grammar: "compliant" });
    expect<unknown>(parseUserId("@:example.org")).toEqual({ id: "@:example.org", localpart: "", serverName: "example.org", grammar: "historical" });
    expect(parseUserId("@ä b\u0001:example.org")!.grammar).toBe("historical");
    expect(parseUserId("@\u{1f600}:example.org")!.grammar).toBe("historical");
    expect(isCompliantUserId("@Alice:example.org")).toBe(true);
    expect(isCompliantUserId("@a b:example.org")).toBe(false);
    expect(isStrictUserId("@Alice:example.org")).toBe(false);
  });

  test("invalid user IDs", () => {
    for (const s of ["alice:example.org", "@alice", "@alice:", "@alice:bad_host", "@a\u0000b:example.org", "@a\ud800:example.org", "#a:example.org", ""]) {
      expect({ s, ok: isValidUserId(s) }).toEqual({ s, ok: false });
    }
  });

  test("the first colon separates the localpart (which cannot contain one)", () => {
    expect<unknown>(parseUserId("@a:b:80")).toEqual({ id: "@a:b:80", localpart: "a", serverName: "b:80", grammar: "strict" });
  });

  test("255-byte limit, counted in UTF-8 bytes", () => {
    const server = "example.org";
    const fits = "@" + "a".repeat(MAX_ID_BYTES - 2 - server.length) + ":" + server;
    expect(utf8ByteLength(fits)).toBe(255);
    expect(isValidUserId(fits)).toBe(true);
    expect(isValidUserId("@a" + fits.slice(1))).toBe(false);
    // 2-byte characters: 100 of them plus sigil/colon/server are 214 characters but 314 bytes.
    expect(isValidUserId("@" + "é".repeat(100) + ":" + server.repeat(9))).toBe(false);
    expect(isValidUserId("@" + "é".repeat(100) + ":" + server)).toBe(true);
  });

  test("helpers", () => {
    expect(localpartOf("@alice:example.org")).toBe("alice");
    expect(() => localpartOf("alice")).toThrow(InvalidIdError);
    expect<string>(makeUserId("bob", "example.org:8448")).toBe("@bob:example.org:8448");
    expect(() => makeUserId("Bob", "example.org")).toThrow(InvalidIdError);
    expect(() => makeUserId("bob", "bad host")).toThrow(InvalidIdError);
    expect(() => makeUserId("b".repeat(250), "example.org")).toThrow(InvalidIdError);
  });
});

describe("room IDs", () => {
  test("domain form (rooms 1–11)", () => {
    expect<unknown>(parseRoomId("!abc:example.org")).toEqual({ id: "!abc:example.org", opaque: "abc", serverName: "example.org" });
    expect(isValidRoomId("!jEsUZKDJdhlrceRyVU:example.org", "domain")).toBe(true);
    expect(isValidRoomId("!a b\u0001:example.org")).toBe(true);
    for (const s of ["!:example.org", "!abc:", "!abc:bad host", "abc:example.org", "!a\u0000:example.org", "!abc:x".padEnd(300, "x")]) {
      expect({ s, ok: isValidRoomId(s) }).toEqual({ s, ok: false });
    }
  });

  test("hash form (rooms 12+)", () => {
    expect<unknown>(parseRoomId("!" + HASH)).toEqual({ id: "!" + HASH, opaque: HASH, serverName: null });
    expect(isValidRoomId("!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ", "hash")).toBe(true);
    expect(isValidRoomId("!" + HASH, "domain")).toBe(false);
    expect(isValidRoomId("!abc:example.org", "hash")).toBe(false);
    for (const s of ["!" + HASH.slice(1), "!" + HASH + "A", "!" + HASH.replace("-", "+"), "!abc"]) {
      expect({ s, ok: isValidRoomId(s) }).toEqual({ s, ok: false });
    }
  });

  test("the general form !opaque_id, where a room ID is only a key", () => {
    for (const s of ["!abcd", "!notaroom", "!abc:example.org", "!" + HASH]) expect({ s, ok: isOpaqueRoomId(s) }).toEqual({ s, ok: true });
    for (const s of ["!", "abcd", "#a:b", "!a\u0000b", "!".padEnd(300, "x")]) expect({ s, ok: isOpaqueRoomId(s) }).toEqual({ s, ok: false });
  });
});

describe("event IDs", () => {
  test("forms", () => {
    expect<unknown>(parseEventId("$a4ecee13e2accdadf56c1025:example.com")).toEqual({ id: "$a4ecee13e2accdadf56c1025:example.com", opaque: "a4ecee13e2accdadf56c1025", serverName: "example.com", form: "domain" });
    expect(parseEventId("$CD66HAED5npg6074c6pDtLKalHjVfYb2q4Q3LZgrW6o")!.serverName).toBeNull();
    expect(isValidEventId("$" + HASH, "base64url")).toBe(true);
    expect(isValidEventId("$" + HASH, "base64")).toBe(false);
    expect(isValidEventId("$def/456+oldeventXXXXXXXXXXXXXXXXXXXXXXXXXXX", "base64")).toBe(true);
    expect(isValidEventId("$CD66HAED5npg6074c6pDtLKalHjVfYb2q4Q3LZgrW6o", "base64")).toBe(true);
    expect(isValidEventId("$CD66HAED5npg6074c6pDtLKalHjVfYb2q4Q3LZgrW6o", "base64url")).toBe(true);
    expect(isValidEventId("$abc:example.org", "base64url")).toBe(false);
    for (const s of ["$", "$:example.org", "$abc", "$" + HASH + "=", "abc:example.org", "$x:bad host"]) {
      expect({ s, ok: isValidEventId(s) }).toEqual({ s, ok: false });
    }
  });
});

describe("room aliases", () => {
  test("valid and invalid", () => {
    expect<unknown>(parseRoomAlias("#room:example.org")).toEqual({ localpart: "room", serverName: "example.org" });
    expect(isValidRoomAlias("#Ünïcode room!:example.org")).toBe(true);
    for (const s of ["#:example.org", "#a:b:c:d", "#a", "room:example.org", "#a\u0000:x.org", "#a:" + "x".repeat(260)]) {
      expect({ s, ok: isValidRoomAlias(s) }).toEqual({ s, ok: false });
    }
  });
});

describe("serverNameOf / findServerNameOf", () => {
  test("every sigil with a domain", () => {
    expect<string>(serverNameOf("@a:example.org")).toBe("example.org");
    expect<string>(serverNameOf("!r:[::1]:8448")).toBe("[::1]:8448");
    expect<string>(serverNameOf("$e:example.org:80")).toBe("example.org:80");
    expect<string>(serverNameOf("#a:example.org")).toBe("example.org");
  });
  test("IDs without a domain", () => {
    expect(findServerNameOf("!" + HASH)).toBeNull();
    expect(findServerNameOf("$" + HASH)).toBeNull();
    expect(findServerNameOf("example.org")).toBeNull();
    expect(findServerNameOf("")).toBeNull();
    expect(() => serverNameOf("$" + HASH)).toThrow(InvalidIdError);
  });
});

describe("device IDs and other identifiers", () => {
  test("device IDs", () => {
    for (const s of ["GHTYAJCE", "element-web_1.2", "a b", "日本"]) expect(isValidDeviceId(s)).toBe(true);
    for (const s of ["", "a\nb", "a\u0000", "\u007f", "x".repeat(256), "\ud800"]) expect(isValidDeviceId(s)).toBe(false);
  });
  test("opaque and namespaced identifiers", () => {
    expect(isValidOpaqueId("txn-1.2_3~4")).toBe(true);
    expect(isValidOpaqueId("a/b")).toBe(false);
    expect(isValidOpaqueId("")).toBe(false);
    expect(isValidNamespacedId("m.login.password")).toBe(true);
    expect(isValidNamespacedId("com.example-x_y")).toBe(true);
    expect(isValidNamespacedId("M.login")).toBe(false);
    expect(isValidNamespacedId("1abc")).toBe(false);
    expect(isValidNamespacedId("a".repeat(256))).toBe(false);
  });
});

describe("branded IDs", () => {
  test("only the parsers and type guards make them; a branded ID is still a string", () => {
    // @ts-expect-error a plain string is not a UserId
    const unchecked: UserId = "@a:example.org";
    // @ts-expect-error an event ID is not a room ID
    const mixed: RoomId = parseEventId("$" + HASH)!.id;
    expect(mixed).toBeDefined();
    const made: UserId = makeUserId("a", "example.org");
    const s: string = made;
    expect(s).toBe(unchecked);
    const input: string = "!abc:example.org";
    if (!isValidRoomId(input)) throw new Error("valid");
    const room: RoomId = input;
    const event: EventId | undefined = parseEventId("$" + HASH)?.id;
    const server: ServerName = serverNameOf(room);
    expect<unknown[]>([room, event, server, parseUserId(made)?.id]).toEqual([input, "$" + HASH, "example.org", made]);
  });
});
