// `hs port-db --from sqlite:PATH --to postgres:URL`: moves a server from SQLite to PostgreSQL.
import { existsSync } from "node:fs";
import { openPostgres } from "../../storage/engines/postgres.ts";
import { portSqliteToPostgres, PortError } from "../../storage/engines/port.ts";
import { ping } from "../../storage/engines/maintenance.ts";
import { configureLogging } from "../../util/log.ts";
import { processesHoldingFile } from "../running.ts";
import { registerCommand, RunError, UsageError } from "../main.ts";

/** A failed first connection to PostgreSQL, said plainly (postgres.js gives the server's code). */
function postgresConnectProblem(e: unknown, where: string): string {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  switch (err.code) {
    case "28P01":
    case "28000":
      return `PostgreSQL refused the login ${where}: ${msg}. Check the user name and password in the --to URL (nothing was copied)`;
    case "3D000":
      return `PostgreSQL has no database ${where}: ${msg}. Create it first (createdb -O <user> <name>; nothing was copied)`;
    case "ECONNREFUSED":
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "ETIMEDOUT":
      return `cannot connect to PostgreSQL at ${where} (${err.code}): is it running, and is the host and port right? (nothing was copied)`;
    default:
      return `cannot use PostgreSQL at ${where}: ${msg} (nothing was copied)`;
  }
}

function parseTarget(v: string): string {
  const url = v.startsWith("postgres:postgres") || v.startsWith("postgres:postgresql") ? v.slice("postgres:".length) : v;
  if (!/^postgres(ql)?:\/\//.test(url)) throw new UsageError(`--to expects postgres:URL, e.g. postgres:postgres://hs:secret@localhost/hs (not ${JSON.stringify(v)})`);
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--to: ${JSON.stringify(url)} is not a URL`);
  }
  return url;
}

registerCommand({
  name: "port-db",
  summary: "Move the database from SQLite to PostgreSQL (row counts verified)",
  usage: "hs port-db --from sqlite:PATH --to postgres:URL",
  help: [
    "  --from sqlite:PATH   The SQLite database (homeserver.db); stop the server first",
    "  --to postgres:URL    An empty PostgreSQL database, e.g. postgres:postgres://hs:secret@localhost/hs",
    "                       (for a unix socket: postgres://hs@localhost/hs?host=/var/run/postgresql)",
    "  Then set [database] backend = \"postgres\" and url in homeserver.toml and start hs serve.",
  ].join("\n"),
  options: { from: { type: "string" }, to: { type: "string" } },
  async run({ values }) {
    const from = values.from as string | undefined;
    const to = values.to as string | undefined;
    if (!from || !to) throw new UsageError("--from sqlite:PATH and --to postgres:URL are required");
    if (!from.startsWith("sqlite:")) throw new UsageError(`--from expects sqlite:PATH (not ${JSON.stringify(from)})`);
    const path = from.slice("sqlite:".length);
    const url = parseTarget(to);
    if (!existsSync(path)) throw new RunError(`no such file: ${path}`);
    // As hs restore does: never copy a database a running server is writing.
    const holders = processesHoldingFile(path);
    if (holders.length > 0) {
      const h = holders[0]!;
      throw new RunError(
        `${path} is open in a running process (pid ${h.pid}: ${h.command.slice(0, 80)}): stop the server first (e.g. systemctl stop hs), then run port-db again`,
      );
    }
    configureLogging({ level: "warn", file: "", pretty: true });
    const target = openPostgres(url, 2);
    const pgUrl = new URL(url);
    const where = `${decodeURIComponent(pgUrl.username) || "(default user)"}@${pgUrl.host || pgUrl.searchParams.get("host") || "localhost"}${pgUrl.pathname}`;
    // Connection problems first, in words: nothing has been copied yet.
    try {
      await ping(target);
    } catch (e) {
      await target.close().catch(() => {});
      throw new RunError(postgresConnectProblem(e, where));
    }
    const start = performance.now();
    let last = 0;
    try {
      const r = await portSqliteToPostgres(path, target, {
        progress: (table, rows) => {
          if (process.stderr.isTTY && performance.now() - last > 500) {
            last = performance.now();
            process.stderr.write(`\r  ${table}: ${rows} rows`.padEnd(60));
          }
        },
      });
      if (process.stderr.isTTY) process.stderr.write("\r".padEnd(61) + "\r");
      for (const t of r.tables) process.stdout.write(`  ${t.name.padEnd(32)} ${String(t.rows).padStart(10)} rows\n`);
      for (const n of r.notes) process.stdout.write(`  note: ${n}\n`);
      const rows = r.tables.reduce((a, t) => a + t.rows, 0);
      process.stdout.write(
        `Copied ${rows} rows in ${r.tables.length} tables at schema version ${r.schemaVersion} in ${((performance.now() - start) / 1000).toFixed(1)} s; row counts verified.\n` +
          `Now set [database] backend = "postgres" and url in homeserver.toml, and start hs serve.\n`,
      );
    } catch (e) {
      if (e instanceof PortError) throw new RunError(e.message);
      throw new RunError(`${(e as Error).message} (the target may hold part of the data: drop and recreate it before trying again)`);
    } finally {
      await target.close();
    }
  },
});
