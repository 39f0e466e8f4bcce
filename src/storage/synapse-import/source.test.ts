import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSynapseSource, sqliteWriteLocked, synapseSchemaVersion } from "./source.ts";

function fakeSynapse(path: string, version: number): void {
  const db = new Database(path, { create: true });
  db.exec("CREATE TABLE schema_version (Lock CHAR(1) NOT NULL DEFAULT 'X' UNIQUE, version INTEGER NOT NULL, upgraded BOOL NOT NULL)");
  db.exec(`INSERT INTO schema_version (version, upgraded) VALUES (${version}, 1)`);
  db.exec("CREATE TABLE events (stream_ordering INTEGER PRIMARY KEY, event_id TEXT)");
  db.exec("CREATE TABLE event_json (event_id TEXT, json TEXT)");
  db.exec("CREATE TABLE state_groups_state (state_group BIGINT, type TEXT, state_key TEXT, event_id TEXT)");
  db.close();
}

test("schema versions outside 69-72 are refused with the version found; 72 is accepted", async () => {
  const dir = mkdtempSync(join(tmpdir(), "synapse-src-"));
  try {
    for (const [v, ok] of [[72, true], [69, true], [73, false], [58, false]] as const) {
      const p = join(dir, `s${v}.db`);
      fakeSynapse(p, v);
      const src = await openSynapseSource(`sqlite:${p}`);
      try {
        if (ok) expect(await synapseSchemaVersion(src)).toBe(v);
        else await expect(synapseSchemaVersion(src)).rejects.toThrow(`has Synapse schema version ${v}`);
      } finally {
        await src.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a SQLite database in the middle of a write is seen as in use; an idle one is not", () => {
  const dir = mkdtempSync(join(tmpdir(), "synapse-lock-"));
  try {
    const p = join(dir, "homeserver.db");
    fakeSynapse(p, 72);
    expect(sqliteWriteLocked(p)).toBe(false);
    const w = new Database(p);
    w.exec("BEGIN IMMEDIATE");
    expect(sqliteWriteLocked(p)).toBe(true);
    w.exec("ROLLBACK");
    w.close();
    expect(sqliteWriteLocked(p)).toBe(false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
