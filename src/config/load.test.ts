import { describe, expect, test } from "bun:test";
import { parse } from "smol-toml";
import { renderConfig } from "./generate.ts";
import { ConfigError, nearest, validateConfig } from "./load.ts";
import { SCHEMA } from "./schema.ts";
import { sampleConfig } from "../../scripts/sample-config.ts";
import { readFileSync } from "node:fs";

const ok = (doc: Record<string, unknown>) => validateConfig(doc, "hs.toml", "/etc/hs");

describe("config validation", () => {
  test("minimal config gets every default", () => {
    const { config, warnings } = ok({ server_name: "example.org" });
    expect(warnings).toEqual([]);
    expect(config.public_baseurl).toBe("https://example.org/");
    expect(config.registration.enabled).toBe(false);
    expect(config.database.backend).toBe("sqlite");
    expect(config.database.path).toBe("/etc/hs/homeserver.db");
    expect(config.signing_key_path).toBe("/etc/hs/example.org.signing.key");
    expect(config.listeners).toHaveLength(1);
    expect(config.listeners[0]!.port).toBe(8008);
    expect(config.listeners[0]!.resources).toEqual(["client", "federation", "keys", "media"]);
    expect(config.well_known.client).toBe("https://example.org/");
  });

  test("missing server_name is an error naming the key", () => {
    expect(() => ok({})).toThrow(/hs\.toml: server_name: expected a server name/);
  });

  test("wrong type names file, key, expected and found", () => {
    expect(() => ok({ server_name: "a.b", registration: { enabled: "yes" } })).toThrow(
      'hs.toml: registration.enabled: expected true or false, found the string "yes"',
    );
    expect(() => ok({ server_name: "a.b", listeners: [{ port: 70000 }] })).toThrow(
      /listeners\[0\]\.port: expected an integer ≥ 0 ≤ 65535, found the integer 70000/,
    );
    expect(() => ok({ server_name: "a.b", database: { backend: "mysql" } })).toThrow(
      /database\.backend: expected one of "sqlite", "postgres", found the string "mysql"/,
    );
    expect(() => ok({ server_name: "a b" })).toThrow(/server_name: expected a server name/);
    expect(() => ok({ server_name: "a.b", listeners: [{ resources: ["client", "web"] }] })).toThrow(/resources among/);
  });

  test("[registration] mode, and the older enabled/requires_token that still work", () => {
    const reg = (r: Record<string, unknown>) => ok({ server_name: "a.b", registration: r });
    const pick = (r: Record<string, unknown>) => {
      const c = reg(r).config.registration;
      return [c.mode, c.enabled, c.requires_token];
    };
    expect(pick({})).toEqual(["closed", false, false]);
    expect(pick({ mode: "token" })).toEqual(["token", true, true]);
    expect(pick({ mode: "open" })).toEqual(["open", true, false]);
    expect(pick({ mode: "closed" })).toEqual(["closed", false, false]);
    expect(pick({ enabled: true })).toEqual(["open", true, false]);
    expect(pick({ enabled: true, requires_token: true })).toEqual(["token", true, true]);
    expect(pick({ mode: "token", enabled: true })).toEqual(["token", true, true]);
    // requires_token alone did nothing: still closed, with a warning saying how to get token-only sign-up.
    const lone = reg({ requires_token: true });
    expect(lone.config.registration.mode).toBe("closed");
    expect(lone.warnings.join("\n")).toContain('has no effect while registration is closed (enabled = false): set [registration] mode = "token"');
    expect(() => reg({ mode: "closed", enabled: true })).toThrow('hs.toml: registration.enabled = true contradicts registration.mode = "closed"');
    expect(() => reg({ mode: "open", requires_token: true })).toThrow('registration.requires_token = true contradicts registration.mode = "open"');
    expect(() => reg({ mode: "invite" })).toThrow('registration.mode: expected one of "closed", "token", "open"');
  });

  test("unknown keys warn with the nearest known key", () => {
    const { warnings } = ok({ server_name: "a.b", regstration: {}, registration: { enable: true } });
    expect(warnings).toContain("hs.toml: unknown key regstration (did you mean registration?)");
    expect(warnings).toContain("hs.toml: unknown key registration.enable (did you mean registration.enabled?)");
    expect(nearest("shared_secert", ["shared_secret", "enabled"])).toBe("shared_secret");
  });

  test("postgres needs a url; tls listener needs a certificate", () => {
    expect(() => ok({ server_name: "a.b", database: { backend: "postgres" } })).toThrow(/database\.url/);
    expect(() => ok({ server_name: "a.b", listeners: [{ tls: true }] })).toThrow(/certificate_path/);
  });

  test("[worker]: roles among the five, each once, at least one; SQLite needs every role", () => {
    const pg = { backend: "postgres", url: "postgres://h@localhost/hs" };
    const w = (worker: Record<string, unknown>, database: Record<string, unknown> = pg) => ok({ server_name: "a.b", database, worker }).config.worker;
    expect(ok({ server_name: "a.b" }).config.worker).toEqual({
      roles: ["client", "federation_inbound", "federation_sender", "media", "background"],
      instance_name: "",
      lease_seconds: 30,
    });
    expect(w({ roles: ["federation_sender", "background"], instance_name: "sender-1" }).roles).toEqual(["federation_sender", "background"]);
    expect(() => w({ roles: ["client", "sync"] })).toThrow('hs.toml: worker.roles: expected roles among client, federation_inbound, federation_sender, media, background (not "sync")');
    expect(() => w({ roles: [] })).toThrow("worker.roles: expected at least one role");
    expect(() => w({ roles: ["media", "media"] })).toThrow('worker.roles: expected each role once ("media" is listed twice)');
    expect(() => w({ instance_name: "a b" })).toThrow("worker.instance_name: expected 1 to 64 letters");
    expect(() => w({ lease_seconds: 1 })).toThrow(/worker\.lease_seconds/);
    expect(() => w({ roles: ["client"] }, { backend: "sqlite" })).toThrow(
      'hs.toml: worker.roles: with SQLite hs runs as one process, which must play every role (missing: federation_inbound, federation_sender, media, background); dedicating processes needs database.backend = "postgres"',
    );
  });

  test("generated config documents every option and parses back to the same values", () => {
    const text = renderConfig({ server_name: "example.org", "registration.shared_secret": "s3cret" });
    for (const [key, node] of Object.entries(SCHEMA)) {
      if ("fields" in node) {
        for (const k of Object.keys(node.fields)) expect(text).toMatch(new RegExp(`^#?${k} = `, "m"));
      } else expect(text).toMatch(new RegExp(`^#?${key} = `, "m"));
    }
    const { config, warnings } = ok(parse(text) as Record<string, unknown>);
    expect(warnings).toEqual([]);
    expect(config.server_name).toBe("example.org");
    expect(config.registration.shared_secret).toBe("s3cret");
  });

  test("the sample homeserver.toml in the repository is up to date (make sample-config)", () => {
    expect(readFileSync(new URL("../../homeserver.toml", import.meta.url), "utf8")).toBe(sampleConfig());
  });

  test("ConfigError is the error class", () => {
    expect(() => ok({})).toThrow(ConfigError);
  });
});
