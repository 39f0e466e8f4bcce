import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { appserviceNote, readSynapseConfig } from "./import-synapse.ts";

test("Synapse's homeserver.yaml: PostgreSQL args become a URL, relative paths are taken from the file's folder", () => {
  const dir = mkdtempSync(join(tmpdir(), "synapse-yaml-"));
  try {
    const p = join(dir, "homeserver.yaml");
    writeFileSync(
      p,
      [
        "server_name: example.org",
        "pid_file: /run/synapse.pid",
        "signing_key_path: example.org.signing.key",
        "media_store_path: /var/lib/synapse/media",
        "listeners:",
        "  - port: 8008",
        "    type: http",
        "  - port: 9000",
        "    type: metrics",
        "database:",
        "  name: psycopg2",
        "  args:",
        "    user: synapse",
        "    password: 'p@ss word'",
        "    database: synapse",
        "    host: /var/run/postgresql",
        "password_config:",
        "  pepper: spicy",
        "app_service_config_files: [/etc/synapse/bridge.yaml]",
        "",
      ].join("\n"),
    );
    const c = readSynapseConfig(p);
    expect(c.serverName).toBe("example.org");
    const u = new URL(c.database!);
    expect(u.protocol).toBe("postgres:");
    expect(decodeURIComponent(u.username)).toBe("synapse");
    expect(decodeURIComponent(u.password)).toBe("p@ss word");
    expect(u.pathname).toBe("/synapse");
    expect(u.searchParams.get("host")).toBe("/var/run/postgresql");
    expect(c.signingKey).toBe(join(dir, "example.org.signing.key"));
    expect(c.mediaStore).toBe("/var/lib/synapse/media");
    expect(c.ports).toEqual([{ port: 8008, tls: false }]);
    expect(c.pepper).toBe(true);
    expect(c.appservices).toEqual(["/etc/synapse/bridge.yaml"]);

    writeFileSync(p, "server_name: example.org\ndatabase:\n  name: sqlite3\n  args:\n    database: homeserver.db\n");
    expect(readSynapseConfig(p).database).toBe(join(dir, "homeserver.db"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the appservice note names the registration files hs's config lacks, as the lines to add", () => {
  expect(appserviceNote([], ["/etc/hs/a.yaml"])).toBeNull();
  expect(appserviceNote(["/etc/synapse/bridge.yaml"], ["/etc/synapse/bridge.yaml"])).toBeNull();
  const note = appserviceNote(["/etc/synapse/bridge.yaml", "/etc/synapse/irc.yaml"], ["/etc/synapse/bridge.yaml"])!;
  expect(note).toContain("1 appservice registration file(s)");
  expect(note).toContain('config_files = ["/etc/synapse/bridge.yaml", "/etc/synapse/irc.yaml"]');
});
