// `hs backup` and `hs restore`: one archive (tar.gz) holding a consistent copy of the database, the
// signing key, the media store and the config, taken while the server runs.
//   SQLite: VACUUM INTO a snapshot (a consistent read of the live database, WAL included).
//   PostgreSQL: pg_dump --format=custom (pg_restore on restore); both tools must be installed.
// The archive ends with manifest.json (hs version, server name, schema version, every file's size
// and sha256); restore verifies all of it before touching anything, and refuses to run while the
// server is up or over existing data (unless --force, which keeps the old files aside).
import { createHash } from "node:crypto";
import { accessSync, constants, createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, copyFileSync, unlinkSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import { loadConfig } from "../../config/load.ts";
import type { Config } from "../../config/schema.ts";
import { SERVER_VERSION } from "../../protocol/versions.ts";
import { currentSchemaVersion } from "../../storage/engines/migrate.ts";
import { openPostgres } from "../../storage/engines/postgres.ts";
import { listTables } from "../../storage/engines/schema-info.ts";
import { sqliteFileSchemaVersion, sqliteSnapshot } from "../../storage/engines/maintenance.ts";
import { randomString } from "../../util/random.ts";
import { readTar, TarWriter } from "../../util/tar.ts";
import { configureLogging } from "../../util/log.ts";
import { registerCommand, RunError, UsageError } from "../main.ts";
import { runningListener } from "../running.ts";
import { defaultConfigPath } from "./serve.ts";

export const BACKUP_FORMAT = "hs-backup";

interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
}

export interface Manifest {
  format: typeof BACKUP_FORMAT;
  format_version: 1;
  hs_version: string;
  server_name: string;
  created_ts: number;
  database: { backend: "sqlite" | "postgres"; schema_version: number; file: string };
  files: ManifestFile[];
}

/** libpq-style arguments for pg_dump/pg_restore: the URL without its password, which goes in PGPASSWORD. */
function pgTarget(url: string): { url: string; env: Record<string, string> } {
  const u = new URL(url);
  const env: Record<string, string> = {};
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  u.password = "";
  return { url: u.toString(), env };
}

function findTool(name: string): string {
  const path = Bun.which(name);
  if (!path) throw new RunError(`${name} was not found: install the PostgreSQL client tools (Debian: apt-get install postgresql-client), or back up with pg_dump yourself (see README "Backups")`);
  return path;
}

async function runTool(cmd: string[], env: Record<string, string>): Promise<void> {
  const p = Bun.spawn(cmd, { env: { ...process.env, ...env }, stdout: "ignore", stderr: "pipe" });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new RunError(`${cmd[0]!.split("/").pop()} failed: ${err.trim().split("\n")[0] ?? `exit ${code}`}`);
}

/** Files under a directory (relative paths with /), skipping `skip` subdirectories. */
function walk(dir: string, skip: Set<string>, base = dir): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const rel = relative(base, p).split(sep).join("/");
    if (e.isDirectory()) {
      if (!skip.has(rel)) out.push(...walk(p, skip, base));
    } else if (e.isFile()) out.push(rel);
  }
  return out.sort();
}

async function* hashing(source: AsyncIterable<Uint8Array>, hash: ReturnType<typeof createHash>): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    hash.update(chunk);
    yield chunk;
  }
}

/** The archive paths of the TLS files named by [tls]. */
const TLS_CERT = "tls/certificate.pem";
const TLS_KEY = "tls/private_key.pem";

export async function createBackup(configPath: string, config: Config, output: string, opts: { media: boolean; notes?: string[] }): Promise<Manifest> {
  const outDir = dirname(resolve(output));
  if (!existsSync(outDir)) throw new RunError(`the directory ${outDir} does not exist`);
  const staging = join(outDir, `.hs-backup-${randomString(8)}`);
  mkdirSync(staging, { recursive: true, mode: 0o700 });
  const partial = `${output}.partial`;
  try {
    // 1. The database snapshot.
    let dbFile: string;
    let schemaVersion: number;
    if (config.database.backend === "sqlite") {
      if (!existsSync(config.database.path)) throw new RunError(`no database at ${config.database.path}`);
      dbFile = join(staging, "homeserver.db");
      sqliteSnapshot(config.database.path, dbFile);
      schemaVersion = sqliteFileSchemaVersion(dbFile);
    } else {
      dbFile = join(staging, "postgres.dump");
      const pgDump = findTool("pg_dump");
      const db = openPostgres(config.database.url, 1);
      try {
        schemaVersion = await currentSchemaVersion(db);
      } finally {
        await db.close();
      }
      const t = pgTarget(config.database.url);
      await runTool([pgDump, "--format=custom", "--no-owner", "--no-privileges", `--file=${dbFile}`, `--dbname=${t.url}`], t.env);
    }

    // 2. The archive: database, key, config, media; the manifest last.
    const files: ManifestFile[] = [];
    const gzip = createGzip({ level: 6 });
    const sink = createWriteStream(partial, { mode: 0o600 });
    const done = pipeline(gzip, sink);
    const tar = new TarWriter(gzip);
    const add = async (archivePath: string, localPath: string) => {
      let size: number;
      try {
        size = statSync(localPath).size;
      } catch {
        return; // gone meanwhile (media deleted while backing up)
      }
      const hash = createHash("sha256");
      await tar.addStream(archivePath, size, hashing(createReadStream(localPath) as AsyncIterable<Uint8Array>, hash));
      files.push({ path: archivePath, size, sha256: hash.digest("hex") });
    };
    const dbName = `database/${dbFile.split(sep).pop()}`;
    await add(dbName, dbFile);
    if (existsSync(config.signing_key_path)) await add("keys/signing.key", config.signing_key_path);
    if (existsSync(configPath)) await add("config/homeserver.toml", configPath);
    // The TLS certificate and key the config names (a certificate managed elsewhere, e.g. by
    // certbot under /etc/letsencrypt, may not be readable by hs's user: then it says so).
    for (const [archivePath, local, what] of [
      [TLS_CERT, config.tls.certificate_path, "TLS certificate"],
      [TLS_KEY, config.tls.private_key_path, "TLS private key"],
    ] as const) {
      if (!local) continue;
      try {
        accessSync(local, constants.R_OK);
      } catch (e) {
        opts.notes?.push(`the ${what} ${local} is NOT in the backup: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : "cannot read it as this user"} (back it up yourself, or renew it after a restore)`);
        continue;
      }
      await add(archivePath, local);
    }
    if (opts.media) {
      // tmp/ holds uploads still being written.
      for (const rel of walk(config.media.store_path, new Set(["tmp"]))) await add(`media/${rel}`, join(config.media.store_path, rel));
    }
    const manifest: Manifest = {
      format: BACKUP_FORMAT,
      format_version: 1,
      hs_version: SERVER_VERSION,
      server_name: config.server_name,
      created_ts: Date.now(),
      database: { backend: config.database.backend, schema_version: schemaVersion, file: dbName },
      files,
    };
    await tar.addBytes("manifest.json", new TextEncoder().encode(JSON.stringify(manifest, null, 2)));
    await tar.finish();
    gzip.end();
    await done;
    renameSync(partial, output);
    return manifest;
  } catch (e) {
    rmSync(partial, { force: true });
    throw e;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** A path inside the archive that is safe to extract (no absolute paths, no ..). */
function safeEntry(name: string): boolean {
  return name !== "" && !name.startsWith("/") && !name.split("/").some((p) => p === ".." || p === "") && !name.includes("\\");
}

function move(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  try {
    renameSync(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
    copyFileSync(from, to);
    unlinkSync(from);
  }
}

export async function restoreBackup(config: Config, input: string, opts: { force: boolean }): Promise<Manifest> {
  if (!existsSync(input)) throw new RunError(`no such file: ${input}`);
  const running = await runningListener(config);
  if (running) throw new RunError(`the server is running (${running}): stop it before restoring`);
  const stagingBase = config.database.backend === "sqlite" ? dirname(config.database.path) : config.config_dir;
  mkdirSync(stagingBase, { recursive: true });
  const staging = join(stagingBase, `.hs-restore-${randomString(8)}`);
  mkdirSync(staging, { recursive: true });
  try {
    // 1. Extract everything into the staging directory, hashing as we go.
    const seen = new Map<string, { size: number; sha256: string }>();
    let manifest: Manifest | undefined;
    const gunzip = createGunzip();
    const source = createReadStream(input).pipe(gunzip);
    try {
      for await (const entry of readTar(source as AsyncIterable<Uint8Array>)) {
        if (entry.type !== "file") continue;
        if (!safeEntry(entry.name)) throw new RunError(`the archive holds an unsafe path: ${JSON.stringify(entry.name)}`);
        if (entry.name === "manifest.json") {
          const parts: Uint8Array[] = [];
          for await (const c of entry.content) parts.push(c);
          try {
            manifest = JSON.parse(Buffer.concat(parts).toString("utf8")) as Manifest;
          } catch {
            throw new RunError("the archive's manifest.json is not JSON");
          }
          continue;
        }
        const dest = join(staging, ...entry.name.split("/"));
        mkdirSync(dirname(dest), { recursive: true });
        const hash = createHash("sha256");
        await pipeline(hashing(entry.content, hash), createWriteStream(dest, { mode: 0o600 }));
        seen.set(entry.name, { size: entry.size, sha256: hash.digest("hex") });
      }
    } catch (e) {
      if (e instanceof RunError) throw e;
      throw new RunError(`${input} is not a readable hs backup: ${(e as Error).message}`);
    }

    // 2. Verify before touching anything.
    if (!manifest || manifest.format !== BACKUP_FORMAT) throw new RunError(`${input} is not an hs backup (no manifest.json)`);
    for (const f of manifest.files) {
      const s = seen.get(f.path);
      if (!s) throw new RunError(`the archive lacks ${f.path} (truncated?)`);
      if (s.size !== f.size || s.sha256 !== f.sha256) throw new RunError(`${f.path} in the archive is damaged (checksum mismatch)`);
    }
    if (manifest.server_name !== config.server_name) {
      throw new RunError(`the backup is of ${manifest.server_name}, but this config is for ${config.server_name}`);
    }
    if (manifest.database.backend !== config.database.backend) {
      throw new RunError(
        `the backup holds a ${manifest.database.backend} database but the config uses ${config.database.backend}` +
          (manifest.database.backend === "sqlite" ? " (restore it with a sqlite config, then move it with hs port-db)" : ""),
      );
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const keyFile = join(staging, "keys", "signing.key");
    if (existsSync(keyFile) && existsSync(config.signing_key_path) && !readFileSync(keyFile).equals(readFileSync(config.signing_key_path)) && !opts.force) {
      throw new RunError(`${config.signing_key_path} exists and differs from the backup's key (--force replaces it, keeping the old one aside)`);
    }

    // 3. The database.
    const dbStaged = join(staging, ...manifest.database.file.split("/"));
    if (config.database.backend === "sqlite") {
      const path = config.database.path;
      if (existsSync(path) && statSync(path).size > 0) {
        if (!opts.force) throw new RunError(`a database already exists at ${path} (--force replaces it, keeping the old one as ${path}.pre-restore-<time>)`);
        for (const suffix of ["", "-wal", "-shm"]) if (existsSync(path + suffix)) renameSync(path + suffix, `${path}.pre-restore-${stamp}${suffix}`);
      }
      for (const suffix of ["-wal", "-shm"]) rmSync(path + suffix, { force: true });
      move(dbStaged, path);
    } else {
      const pgRestore = findTool("pg_restore");
      const db = openPostgres(config.database.url, 1);
      let tables: number;
      try {
        tables = (await listTables(db)).length;
      } finally {
        await db.close();
      }
      if (tables > 0 && !opts.force) throw new RunError("the PostgreSQL database is not empty (--force drops hs's tables first)");
      const t = pgTarget(config.database.url);
      await runTool([pgRestore, "--no-owner", "--no-privileges", ...(tables > 0 ? ["--clean", "--if-exists"] : []), `--dbname=${t.url}`, dbStaged], t.env);
    }

    // 4. Key and media.
    if (existsSync(keyFile)) {
      if (existsSync(config.signing_key_path) && !readFileSync(keyFile).equals(readFileSync(config.signing_key_path))) {
        renameSync(config.signing_key_path, `${config.signing_key_path}.pre-restore-${stamp}`);
      }
      move(keyFile, config.signing_key_path);
    }
    for (const f of manifest.files) {
      if (!f.path.startsWith("media/")) continue;
      move(join(staging, ...f.path.split("/")), join(config.media.store_path, ...f.path.slice("media/".length).split("/")));
    }
    // 5. TLS files, where the config names them and nothing is there yet (an existing, possibly
    // renewed, certificate is kept).
    for (const [archivePath, local] of [
      [TLS_CERT, config.tls.certificate_path],
      [TLS_KEY, config.tls.private_key_path],
    ] as const) {
      const staged = join(staging, ...archivePath.split("/"));
      if (local && existsSync(staged) && !existsSync(local)) move(staged, local);
    }
    return manifest;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

registerCommand({
  name: "backup",
  summary: "Write a consistent backup (database, signing key, media, config, TLS certificate and key) while the server runs",
  usage: "hs backup --output FILE [--config PATH] [--no-media]",
  help: [
    "  -o, --output FILE    The archive to write (a .tar.gz; written to FILE.partial, then renamed)",
    "  -c, --config PATH    The config file (default ./homeserver.toml, or $HS_CONFIG)",
    "  --no-media           Leave the media store out (database, key and config only)",
    "  SQLite is copied with VACUUM INTO; PostgreSQL with pg_dump (from postgresql-client).",
  ].join("\n"),
  options: { output: { type: "string", short: "o" }, config: { type: "string", short: "c" }, "no-media": { type: "boolean" } },
  async run({ values }) {
    const output = values.output as string | undefined;
    if (!output) throw new UsageError("--output FILE is required");
    const configPath = resolve((values.config as string | undefined) ?? defaultConfigPath());
    const { config } = loadConfig(configPath);
    configureLogging({ level: "warn", file: "", pretty: true });
    if (existsSync(output)) throw new RunError(`${output} already exists; refusing to overwrite it`);
    const start = performance.now();
    const notes: string[] = [];
    const m = await createBackup(configPath, config, output, { media: !values["no-media"], notes });
    const media = m.files.filter((f) => f.path.startsWith("media/"));
    const tls = [m.files.some((f) => f.path === TLS_CERT) && "TLS certificate", m.files.some((f) => f.path === TLS_KEY) && "TLS key"].filter(Boolean);
    process.stdout.write(
      `Backup of ${m.server_name} written to ${output} (${(statSync(output).size / 1048576).toFixed(1)} MiB, ${((performance.now() - start) / 1000).toFixed(1)} s): ` +
        `${m.database.backend} database at schema version ${m.database.schema_version}, ${m.files.some((f) => f.path === "keys/signing.key") ? "signing key, " : ""}${tls.length ? `${tls.join(" and ")}, ` : ""}${media.length} media files\n`,
    );
    for (const n of notes) process.stderr.write(`Note: ${n}\n`);
  },
});

registerCommand({
  name: "restore",
  summary: "Restore a backup made by hs backup (the server must be stopped)",
  usage: "hs restore --input FILE [--config PATH] [--force]",
  help: [
    "  -i, --input FILE     The archive written by hs backup",
    "  -c, --config PATH    The config of the server to restore into (default ./homeserver.toml, or $HS_CONFIG)",
    "  --force              Replace an existing database and signing key (the old files are kept as *.pre-restore-<time>;",
    "                       on PostgreSQL hs's tables are dropped first)",
    "  The archive is checked completely (checksums, server name, database kind) before anything is changed.",
  ].join("\n"),
  options: { input: { type: "string", short: "i" }, config: { type: "string", short: "c" }, force: { type: "boolean" } },
  async run({ values }) {
    const input = values.input as string | undefined;
    if (!input) throw new UsageError("--input FILE is required");
    const { config } = loadConfig((values.config as string | undefined) ?? defaultConfigPath());
    configureLogging({ level: "warn", file: "", pretty: true });
    const m = await restoreBackup(config, input, { force: !!values.force });
    const media = m.files.filter((f) => f.path.startsWith("media/")).length;
    process.stdout.write(
      `Restored the backup of ${m.server_name} from ${new Date(m.created_ts).toISOString()} (hs ${m.hs_version}, schema version ${m.database.schema_version}): database, ` +
        `${m.files.some((f) => f.path === "keys/signing.key") ? "signing key, " : ""}${media} media files. Start the server with hs serve.\n`,
    );
  },
});
