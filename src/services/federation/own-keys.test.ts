import { describe, expect, test } from "bun:test";
import { validateConfig } from "../../config/load.ts";
import { parseServerKeys } from "../../core/server-keys.ts";
import { generateSigningKey } from "../../core/signing.ts";
import { parseTrustedKeyServers } from "./keyring.ts";
import { OwnKeys, parseOldVerifyKeys } from "./own-keys.ts";

describe("our keys", () => {
  test("the response lists the current key and configured old keys, is self-signed, and is re-signed after half its validity", () => {
    let now = 1_000_000;
    const key = generateSigningKey("cur");
    const old = generateSigningKey("old");
    const own = new OwnKeys({
      serverName: "us.org",
      signingKey: key,
      oldKeys: parseOldVerifyKeys([`ed25519:old ${old.publicKeyBase64} 500000`]),
      validityMs: 10_000,
      now: () => now,
    });
    const r = own.response();
    expect(r.valid_until_ts).toBe(1_010_000);
    expect(r.old_verify_keys).toEqual({ "ed25519:old": { key: old.publicKeyBase64, expired_ts: 500000 } });
    const parsed = parseServerKeys(r, "us.org");
    expect([...parsed.verifyKeys.keys()]).toEqual(["ed25519:cur"]);
    now += 4000;
    expect(own.response()).toBe(r);
    now += 2000;
    expect(own.response().valid_until_ts).toBe(1_016_000);
    expect(own.lookup("ed25519:cur")?.validUntilTs).toBe(Infinity);
    expect(own.lookup("ed25519:old")?.validUntilTs).toBe(500000);
    expect(own.lookup("ed25519:x")).toBeUndefined();
  });

  test("config: old_verify_keys and trusted_key_servers entries are validated", () => {
    const k = generateSigningKey("a").publicKeyBase64;
    const base = { server_name: "us.org" };
    expect(() => validateConfig({ ...base, old_verify_keys: [`ed25519:a ${k} 123`] }, "t", "/tmp")).not.toThrow();
    expect(() => validateConfig({ ...base, old_verify_keys: [`ed25519:a ${k}`] }, "t", "/tmp")).toThrow(/old_verify_keys/);
    expect(() => validateConfig({ ...base, federation: { trusted_key_servers: ["matrix.org", `n.org ed25519:x=${k}`] } }, "t", "/tmp")).not.toThrow();
    expect(() => validateConfig({ ...base, federation: { trusted_key_servers: ["matrix.org ed25519:x"] } }, "t", "/tmp")).toThrow(/trusted_key_servers/);
    expect(() => validateConfig({ ...base, federation: { ip_range_denylist: ["10.0.0.0/40"] } }, "t", "/tmp")).toThrow(/ip_range_denylist/);
    const pinned = parseTrustedKeyServers([`n.org ed25519:x=${k}`, "m.org"]);
    expect(pinned.map((t) => [t.serverName, [...t.keys.keys()]])).toEqual([["n.org", ["ed25519:x"]], ["m.org", []]]);
  });
});
