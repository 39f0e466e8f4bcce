// Keeps the layers of docs/ARCHITECTURE.md honest: each layer imports only what it may.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";

const SRC = join(import.meta.dir, "../src");

/** layer → the layers it may import (its own layer always allowed). */
const ALLOWED: Record<string, string[]> = {
  protocol: [],
  util: [],
  core: ["protocol", "util"],
  config: ["util", "protocol"],
  storage: ["protocol", "util", "config"],
  services: ["core", "protocol", "storage", "util", "config"],
  http: ["protocol", "services", "util", "config", "core"],
  cli: ["config", "services", "storage", "util", "protocol", "core", "http"],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") && !p.endsWith(".test.ts") ? [p] : [];
  });
}

test("source layers import only what ARCHITECTURE.md allows", () => {
  const violations: string[] = [];
  for (const file of files(SRC)) {
    const rel = relative(SRC, file);
    const layer = rel.split("/")[0]!;
    if (!(layer in ALLOWED)) continue; // the composition root (src/homeserver.ts) may import anything
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/^\s*(?:import|export)[^;]*?from\s+["']([^"']+)["']/gm)) {
      const spec = m[1]!;
      if (!spec.startsWith(".")) continue;
      const target = relative(SRC, resolve(dirname(file), spec));
      if (target.startsWith("..")) continue; // sql/ migrations and the like
      const targetLayer = target.split("/")[0]!;
      if (targetLayer === layer || targetLayer.endsWith(".ts")) {
        // Only the command line (part of the composition root) may reach src/homeserver.ts.
        if (targetLayer.endsWith(".ts") && layer !== "cli") violations.push(`${rel} imports the composition root ${target}`);
        continue;
      }
      if (!ALLOWED[layer]!.includes(targetLayer)) violations.push(`${rel} (${layer}) imports ${target} (${targetLayer})`);
    }
  }
  expect(violations).toEqual([]);
});


/**
 * Services receive repositories and `transaction` (src/storage/repos/index.ts), never the Db. The one
 * file that turns the Db into them is the composition root of the services, src/services/index.ts
 * (createServices); the command line builds its own with createRepositories. synapse-import copies one
 * database into another before any service exists, so it writes its target Db directly.
 */
const DB_HOLDERS = new Set(["services/index.ts", "services/synapse-import/index.ts"]);
/** An import of the Db type (or of the engines' Db-taking helpers) from storage/engines. */
const IMPORTS_DB = /^\s*import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+["'][^"']*storage\/engines\/([\w-]+)\.ts["']/gm;

test("services never see the Db: only the composition root (services/index.ts) does", () => {
  const violations: string[] = [];
  for (const file of files(join(SRC, "services"))) {
    const rel = relative(SRC, file);
    if (DB_HOLDERS.has(rel)) continue;
    for (const m of readFileSync(file, "utf8").matchAll(IMPORTS_DB)) {
      const names = m[1]!.split(",").map((n) => n.trim().replace(/^type\s+/, ""));
      // From db.ts, Queryable (what a transaction hands to repositories), Transaction and SqlParam
      // are fine; metrics may name the query observer type. Every other engine module works on a Db.
      // GroupCommit batches a `transaction` function's transactions (it never sees the Db either).
      const wrong = m[2] === "db" ? names.filter((n) => n === "Db") : names.filter((n) => !(m[2] === "instrumented" && n === "QueryObserver") && !(m[2] === "group-commit" && n === "GroupCommit"));
      if (wrong.length) violations.push(`${rel} imports ${wrong.join(", ")} from storage/engines/${m[2]}.ts`);
    }
  }
  expect(violations).toEqual([]);
});

/** A string literal that starts an SQL statement (uppercase keywords, as all SQL in hs is written). */
const SQL_LITERAL = /["'`]\s*(?:SELECT\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|CREATE\s+(?:TABLE|INDEX|UNIQUE)\s|DROP\s+(?:TABLE|INDEX)\s|ALTER\s+TABLE\s|PRAGMA\s|VACUUM\b|WITH\s+(?:RECURSIVE\s+)?\w+\s+AS\s*\()/;

/** The names a file gives to a Db or Queryable (parameters, fields, deps properties). */
function dbNames(text: string): Set<string> {
  const names = new Set(["db", "rawDb", "tx"]);
  for (const m of text.matchAll(/\b(\w+)\s*\??:\s*(?:Db|Queryable)\b/g)) names.add(m[1]!);
  return names;
}

test("SQL lives in src/storage: no SQL text and no Db query methods anywhere else", () => {
  const violations: string[] = [];
  // Unit tests (*.test.ts) may look at the tables they check; files() leaves them out.
  for (const file of files(SRC)) {
    const rel = relative(SRC, file);
    if (rel.startsWith("storage/")) continue;
    const lines = readFileSync(file, "utf8").split("\n");
    const names = dbNames(lines.join("\n"));
    const call = new RegExp(`(?:^|[^\\w.])(?:this\\.|d\\.|this\\.d\\.)?(?:${[...names].join("|")})\\.(?:all|get|run|exec)\\s*[<(]`);
    lines.forEach((line, i) => {
      if (SQL_LITERAL.test(line)) violations.push(`${rel}:${i + 1} SQL text: ${line.trim().slice(0, 100)}`);
      else if (call.test(line)) violations.push(`${rel}:${i + 1} Db query method: ${line.trim().slice(0, 100)}`);
    });
  }
  expect(violations).toEqual([]);
});

test("the SQL rule sees SQL and Db query methods", () => {
  expect(SQL_LITERAL.test(`await x.get("SELECT 1 FROM rooms WHERE room_id = ?", [roomId]);`)).toBe(true);
  expect(SQL_LITERAL.test("`INSERT INTO federation_outbox (id) VALUES (?)`")).toBe(true);
  expect(SQL_LITERAL.test(`throw new MatrixError("M_FORBIDDEN", "Select a room first");`)).toBe(false);
  const names = dbNames("constructor(private readonly store: Db, q: Queryable) {}");
  expect([...names].sort()).toEqual(["db", "q", "rawDb", "store", "tx"]);
});

test("repositories in src/storage are named XRepo", () => {
  const misnamed: string[] = [];
  for (const file of files(join(SRC, "storage"))) {
    const text = readFileSync(file, "utf8");
    // A repository: an exported class constructed with a Db.
    for (const m of text.matchAll(/^export class (\w+)[^{]*\{[^]*?constructor\(([^)]*)\)/gm)) {
      if (/:\s*Db\b/.test(m[2]!) && !m[1]!.endsWith("Repo")) misnamed.push(`${relative(SRC, file)}: ${m[1]}`);
    }
  }
  expect(misnamed).toEqual([]);
});

test("storage is split into engines (connections, migrations, dialects) and repos (the SQL of each concept)", () => {
  const wrong: string[] = [];
  for (const file of files(join(SRC, "storage"))) {
    const rel = relative(SRC, file);
    const text = readFileSync(file, "utf8");
    if (rel.startsWith("storage/engines/") && /from\s+["'][^"']*\/repos\//.test(text)) wrong.push(`${rel}: an engine imports a repository`);
    if (!rel.startsWith("storage/repos/") && !rel.startsWith("storage/synapse-import/") && /^export class \w+Repo\b/m.test(text)) wrong.push(`${rel}: a repository outside storage/repos`);
    if (/^storage\/[^/]+$/.test(rel)) wrong.push(`${rel}: a file at the top of storage/ (put it in engines/ or repos/)`);
  }
  expect(wrong).toEqual([]);
});

test("every declared effect of persisting an event is set by a service (services/event-effects.ts)", async () => {
  const { EVENT_EFFECTS, EVENT_CALLBACKS } = await import("../src/services/event-effects.ts");
  const text = files(join(SRC, "services"))
    .map((f) => readFileSync(f, "utf8"))
    .join("\n");
  const unset: string[] = [];
  for (const [phase, names] of Object.entries(EVENT_EFFECTS)) {
    for (const name of names) if (!text.includes(`effects.set("${phase}", "${name}",`)) unset.push(`${phase}/${name}`);
  }
  for (const name of EVENT_CALLBACKS) if (!new RegExp(`events\\.${name}\\s*=`).test(text)) unset.push(`callback ${name}`);
  expect(unset).toEqual([]);
  // And nothing registers an effect the old way, outside the declared list.
  expect(text.match(/\.hooks\.(?:afterPersist|inTransaction|beforeLocal|backfilled|stateImported)\b/g) ?? []).toEqual([]);
});

test("every declared EDU type has a handler set by a service (services/edus.ts)", async () => {
  const { EDU_TYPES } = await import("../src/services/edus.ts");
  const text = files(join(SRC, "services"))
    .map((f) => readFileSync(f, "utf8"))
    .join("\n");
  expect(EDU_TYPES.filter((t) => !text.includes(`edus.set("${t}",`))).toEqual([]);
  // No EDU handler outside the table.
  expect(text.match(/edus\[["']m\./g) ?? []).toEqual([]);
});

test("the pure core has no import cycles (type-only imports included)", () => {
  const core = join(SRC, "core");
  const graph = new Map<string, string[]>();
  for (const file of files(core)) {
    const text = readFileSync(file, "utf8");
    const deps = [...text.matchAll(/^\s*(?:import|export)[^;]*?from\s+["'](\.[^"']+)["']/gm)]
      .map((m) => resolve(dirname(file), m[1]!))
      .filter((p) => p.startsWith(core + "/"));
    graph.set(file, deps);
  }
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const visit = (f: string, path: string[]) => {
    if (state.get(f) === "done") return;
    if (state.get(f) === "open") {
      cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(SRC, p)).join(" → "));
      return;
    }
    state.set(f, "open");
    for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
    state.set(f, "done");
  };
  for (const f of graph.keys()) visit(f, []);
  expect(cycles).toEqual([]);
});
