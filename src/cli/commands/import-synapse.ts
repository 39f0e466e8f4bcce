// `hs import-synapse`: moves a stopped Synapse (database schema 69-72, as Synapse 1.67 leaves it) into hs: its database (SQLite or
// PostgreSQL), signing key and media store, for the same server_name.
import { copyFileSync, existsSync, readFileSync, renameSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { loadConfig } from "../../config/load.ts";
import { SynapseImporter, type ImportReport } from "../../services/synapse-import/index.ts";
import { openDatabase } from "../../storage/engines/open.ts";
import { openSynapseSource, otherPostgresSessions, sqliteWriteLocked, synapseSchemaVersion, SynapseSourceError } from "../../storage/synapse-import/source.ts";
import { clearImportTables, nonEmptyTables } from "../../storage/synapse-import/target.ts";
import { configureLogging } from "../../util/log.ts";
import { registerCommand, RunError, UsageError } from "../main.ts";
import { defaultConfigPath } from "./serve.ts";

interface SynapseSettings {
  serverName?: string;
  database?: string;
  signingKey?: string;
  mediaStore?: string;
  pidFile?: string;
  ports: Array<{ port: number; tls: boolean }>;
  pepper: boolean;
  /** Synapse's app_service_config_files, absolute. */
  appservices: string[];
}

/** What hs needs from Synapse's homeserver.yaml. */
export function readSynapseConfig(path: string): SynapseSettings {
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new RunError(`cannot read the Synapse config ${path}: ${(e as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null) throw new RunError(`${path} is not a Synapse config (not a mapping)`);
  const c = doc as Record<string, any>;
  const base = dirname(resolve(path));
  const abs = (p: unknown) => (typeof p === "string" && p ? (isAbsolute(p) ? p : resolve(base, p)) : undefined);
  let database: string | undefined;
  const db = c.database ?? {};
  const args = db.args ?? {};
  if (db.name === "psycopg2") {
    const u = new URL("postgres://localhost/");
    if (args.user) u.username = encodeURIComponent(String(args.user));
    if (args.password) u.password = encodeURIComponent(String(args.password));
    const host = String(args.host ?? "localhost");
    if (host.startsWith("/")) u.searchParams.set("host", host);
    else u.hostname = host;
    if (args.port) u.port = String(args.port);
    u.pathname = `/${args.database ?? args.dbname ?? "synapse"}`;
    database = u.toString();
  } else if (db.name === "sqlite3" || db.name === undefined) {
    database = abs(args.database ?? "homeserver.db");
  } else throw new RunError(`${path}: unknown database engine ${JSON.stringify(db.name)} (sqlite3 or psycopg2)`);
  const ports: Array<{ port: number; tls: boolean }> = [];
  for (const l of Array.isArray(c.listeners) ? c.listeners : []) if (typeof l?.port === "number" && (l.type ?? "http") === "http") ports.push({ port: l.port, tls: l.tls === true });
  return {
    serverName: typeof c.server_name === "string" ? c.server_name : undefined,
    database,
    signingKey: abs(c.signing_key_path),
    mediaStore: abs(c.media_store_path ?? "media_store"),
    pidFile: abs(c.pid_file),
    ports,
    pepper: typeof c.password_config?.pepper === "string" && c.password_config.pepper !== "",
    appservices: Array.isArray(c.app_service_config_files) ? c.app_service_config_files.filter((f: unknown) => typeof f === "string").map((f: string) => abs(f)!) : [],
  };
}

/**
 * Appservice registrations live in files named by Synapse's config, not in its database; hs reads
 * the same files. The note names those hs's config does not list yet, as the lines to add.
 */
export function appserviceNote(synapseFiles: readonly string[], hsFiles: readonly string[]): string | null {
  const unlisted = synapseFiles.filter((f) => !hsFiles.includes(f));
  if (unlisted.length === 0) return null;
  return (
    `NOTE: Synapse has ${unlisted.length} appservice registration file(s) that hs's config does not list; hs reads the same files. Add to hs's config:\n` +
    `  [appservices]\n  config_files = [${[...hsFiles, ...unlisted].map((f) => JSON.stringify(f)).join(", ")}]\n`
  );
}

function pidAlive(pidFile: string | undefined): number | null {
  if (!pidFile || !existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

async function answering(ports: SynapseSettings["ports"]): Promise<number | null> {
  for (const { port, tls } of ports) {
    try {
      const r = await fetch(`${tls ? "https" : "http"}://127.0.0.1:${port}/_matrix/client/versions`, {
        signal: AbortSignal.timeout(1500),
        tls: { rejectUnauthorized: false },
      } as RequestInit);
      if (r.ok && (await r.text()).includes("versions")) return port;
    } catch {
      // nothing listening: good
    }
  }
  return null;
}

const pad = (s: string | number, n: number) => String(s).padEnd(n);
const lpad = (s: string | number, n: number) => String(s).padStart(n);

function printReport(r: ImportReport, check: boolean, out: (s: string) => void): void {
  out(`Synapse schema version ${r.schemaVersion}${check ? " — dry run (--check): nothing was written" : ""}\n\n`);
  out(`  ${pad("step", 30)} ${lpad("read", 10)} ${lpad(check ? "would import" : "imported", 12)} ${lpad("skipped", 8)} ${lpad("seconds", 8)}\n`);
  for (const s of r.steps) out(`  ${pad(s.step, 30)} ${lpad(s.read, 10)} ${lpad(s.imported, 12)} ${lpad(s.skipped, 8)} ${lpad(s.seconds === undefined ? "" : s.seconds.toFixed(1), 8)}\n`);
  if (r.skipReasons.length) {
    out("\nSkipped:\n");
    for (const s of r.skipReasons) out(`  ${lpad(s.rows, 8)}  ${s.reason}\n`);
  }
  if (r.notes.length) {
    out("\nNotes:\n");
    for (const n of r.notes) out(`  - ${n}\n`);
  }
  if (!check) {
    out(`\nVerification (${r.rooms.length} rooms):\n`);
    out(`  ${pad("room", 44)} ${lpad("events Synapse", 14)} ${lpad("hs", 8)} ${pad("  state Synapse", 18)} ${pad("hs", 16)}\n`);
    const shown = r.rooms.length > 50 ? r.rooms.filter((x) => x.synapseEvents !== x.hsEvents || x.synapseStateHash !== x.hsStateHash).slice(0, 50) : r.rooms;
    for (const x of shown) {
      out(`  ${pad(x.roomId, 44)} ${lpad(x.synapseEvents, 14)} ${lpad(x.hsEvents, 8)}   ${pad(x.synapseStateHash, 16)} ${pad(x.hsStateHash, 16)}${x.synapseEvents === x.hsEvents && x.synapseStateHash === x.hsStateHash ? "" : "  MISMATCH"}\n`);
    }
    if (shown.length < r.rooms.length) out(`  (${r.rooms.length - shown.length} more rooms, all matching)\n`);
    for (const p of r.problems) out(`PROBLEM: ${p}\n`);
  }
  const rate = r.seconds > 0 ? Math.round(r.events / r.seconds) : 0;
  out(
    `\n${check ? "Would import" : "Imported"} ${r.events} events in ${r.seconds.toFixed(1)} s (${rate} events/s), ${(r.mediaBytes / 1048576).toFixed(1)} MiB of media` +
      (check ? "" : r.problems.length ? `; ${r.problems.length} problem(s)` : "; verification passed") +
      "\n",
  );
}

registerCommand({
  name: "import-synapse",
  summary: "Take over a stopped Synapse's database, signing key and media (same server_name)",
  usage: "hs import-synapse --synapse-config homeserver.yaml [--config hs.toml] [--check] [--force]\n       hs import-synapse --database sqlite:PATH|postgres://URL [--signing-key PATH] [--media-store PATH] [--config hs.toml]",
  help: [
    "  --synapse-config PATH  Synapse's homeserver.yaml: database, signing key and media store are read from it",
    "  --database SPEC        Synapse's database instead: sqlite:/path/homeserver.db or postgres://user:pw@host/db",
    "  --signing-key PATH     Synapse's signing key (copied to hs's signing_key_path)",
    "  --media-store PATH     Synapse's media_store_path (files are copied into hs's media store)",
    "  -c, --config PATH      hs's config (default ./homeserver.toml, or $HS_CONFIG): the target database",
    "  --check                Dry run: read everything, report what would be imported and skipped, write nothing",
    "  --force                Import although Synapse seems to run, or into a non-empty hs database (emptied first),",
    "                         or over a different signing key (kept aside as <path>.pre-import)",
    "  Stop Synapse first. Supports Synapse's database schema 69-72 (Synapse 1.67 writes 72).",
  ].join("\n"),
  options: {
    "synapse-config": { type: "string" },
    database: { type: "string" },
    "signing-key": { type: "string" },
    "media-store": { type: "string" },
    config: { type: "string", short: "c" },
    check: { type: "boolean" },
    force: { type: "boolean" },
  },
  async run({ values }) {
    const synCfgPath = values["synapse-config"] as string | undefined;
    if (!synCfgPath && !values.database) throw new UsageError("--synapse-config homeserver.yaml or --database is required");
    const syn: SynapseSettings = synCfgPath ? readSynapseConfig(synCfgPath) : { ports: [], pepper: false, appservices: [] };
    const database = (values.database as string | undefined) ?? syn.database!;
    const signingKey = (values["signing-key"] as string | undefined) ?? syn.signingKey;
    const mediaStore = (values["media-store"] as string | undefined) ?? syn.mediaStore;
    const check = values.check === true;
    const force = values.force === true;
    const { config } = loadConfig((values.config as string | undefined) ?? defaultConfigPath());
    configureLogging({ level: "warn", file: "", pretty: true });
    const out = (s: string) => process.stdout.write(s);

    if (syn.serverName !== undefined && syn.serverName !== config.server_name) {
      throw new RunError(`Synapse's server_name is ${syn.serverName} but hs's is ${config.server_name}: set server_name = "${syn.serverName}" in hs's config`);
    }
    // A running Synapse would keep writing while we read.
    const pid = pidAlive(syn.pidFile);
    const port = await answering(syn.ports);
    if ((pid !== null || port !== null) && !force) {
      throw new RunError(`Synapse is running (${pid !== null ? `pid ${pid}` : `answering on port ${port}`}): stop it first (or --force)`);
    }
    const sqlitePath = /^postgres(ql)?:\/\//.test(database) ? undefined : database.replace(/^sqlite:/, "");
    if (sqlitePath !== undefined && !existsSync(sqlitePath)) throw new RunError(`no Synapse database at ${sqlitePath}`);
    if (sqlitePath !== undefined && sqliteWriteLocked(sqlitePath) && !force) throw new RunError(`${sqlitePath} is being written (is Synapse running?): stop it first (or --force)`);

    let source;
    try {
      source = await openSynapseSource(database);
    } catch (e) {
      if (e instanceof SynapseSourceError) throw new RunError(e.message);
      throw e;
    }
    try {
      await synapseSchemaVersion(source);
      const others = await otherPostgresSessions(source);
      if (others.length && !force) {
        throw new RunError(`${others.length} other session(s) use the Synapse database (${others.map((o) => o.application_name || o.client_addr || "?").join(", ")}): stop Synapse first (or --force)`);
      }
      if (syn.pepper) out("WARNING: Synapse has a password pepper: hs cannot check those password hashes; users will need a password reset (their sessions stay).\n");
      const asNote = appserviceNote(syn.appservices, config.appservices.config_files);
      if (asNote) out(asNote);

      // The signing key: remote servers trust events and requests signed with it.
      const hsKey = config.signing_key_path;
      if (signingKey) {
        if (!existsSync(signingKey)) throw new RunError(`no signing key at ${signingKey}`);
        const same = existsSync(hsKey) && readFileSync(hsKey).equals(readFileSync(signingKey));
        if (!same && existsSync(hsKey) && !force) throw new RunError(`${hsKey} holds another signing key: remove it or use --force (it is then kept as ${hsKey}.pre-import)`);
        if (!check && !same) {
          if (existsSync(hsKey)) renameSync(hsKey, `${hsKey}.pre-import`);
          copyFileSync(signingKey, hsKey);
        }
        out(`Signing key: ${signingKey} ${check ? "would be copied to" : same ? "is already at" : "copied to"} ${hsKey}\n`);
      } else out(`WARNING: no Synapse signing key given (--signing-key): other servers will not recognise this server's old events' signatures as its own key\n`);

      const target = check ? undefined : await openDatabase(config.database);
      try {
        if (target) {
          const busy = await nonEmptyTables(target);
          if (busy.length) {
            if (!force) throw new RunError(`the hs database is not empty (${busy.map((b) => `${b.rows} ${b.table}`).join(", ")}): use a new database, or --force to empty it first`);
            await clearImportTables(target);
          }
        }
        let last = 0;
        const importer = new SynapseImporter({
          source,
          target,
          serverName: config.server_name,
          synapseMediaPath: mediaStore && existsSync(mediaStore) ? mediaStore : undefined,
          hsMediaPath: config.media.store_path,
          check,
          progress: (step, done, total) => {
            if (performance.now() - last < 500) return;
            last = performance.now();
            const line = `  ${step}: ${done}/${total}`;
            if (process.stderr.isTTY) process.stderr.write(`\r${line}`.padEnd(70));
            else process.stderr.write(`${line}\n`);
          },
        });
        const report = await importer.run();
        if (process.stderr.isTTY) process.stderr.write("\r".padEnd(71) + "\r");
        printReport(report, check, out);
        if (!check && report.problems.length === 0) out("Start hs serve with this config: clients keep their sessions and sync on from their Synapse sync tokens.\n");
        return report.problems.length ? 1 : 0;
      } finally {
        await target?.close();
      }
    } catch (e) {
      if (e instanceof SynapseSourceError) throw new RunError(e.message);
      throw e;
    } finally {
      await source.close();
    }
  },
});
