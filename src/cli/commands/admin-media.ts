// `hs admin media purge|delete|quarantine|unquarantine|info|usage`: the media repository's
// retention and moderation, directly on the database and the media store (the server may be
// running). The same operations as the Synapse admin API (src/http/admin/media.ts).
import { createRepositories } from "../../storage/repos/index.ts";
import type { Config } from "../../config/schema.ts";
import { MatrixError } from "../../protocol/errors.ts";
import { createMediaServices } from "../../services/media/index.ts";
import type { MediaService } from "../../services/media/media.ts";
import type { Db } from "../../storage/engines/db.ts";
import { RunError, UsageError } from "../main.ts";
import { openAdminDatabase, registerAdminTopic } from "./admin.ts";

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** A point in time: milliseconds since the epoch, an ISO 8601 date, or an age like 30d (s, m, h, d, w). */
export function parseBefore(v: string, now = Date.now()): number {
  const age = /^(\d{1,9})([smhdw])$/.exec(v);
  if (age) return now - Number(age[1]) * UNITS[age[2]!]!;
  if (/^\d{1,15}$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new UsageError(`--before expects an age like 30d, milliseconds since the epoch or an ISO 8601 date, not ${JSON.stringify(v)}`);
  return t;
}

function parseMxc(v: string): { origin: string; mediaId: string } {
  const m = /^(?:mxc:\/\/)?([^/]+)\/([^/]+)$/.exec(v);
  if (!m) throw new UsageError(`expected mxc://server/media_id, not ${JSON.stringify(v)}`);
  return { origin: m[1]!, mediaId: m[2]! };
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

async function withMedia<T>(values: Record<string, string | boolean | undefined>, fn: (media: MediaService, config: Config, db: Db) => Promise<T>): Promise<T> {
  const { config, db } = await openAdminDatabase(values);
  try {
    const { media } = createMediaServices(config, createRepositories(db));
    return await fn(media, config, db);
  } catch (e) {
    if (e instanceof MatrixError) throw new RunError(e.message);
    throw e;
  } finally {
    await db.close();
  }
}

const out = (s: string) => process.stdout.write(s + "\n");

registerAdminTopic({
  name: "media",
  summary: "media repository: purge, delete, quarantine, usage",
  usage: [
    "hs admin media purge --before TIME [--local | --remote] [--size-gt BYTES] [--include-avatars] [--config PATH] [--json]",
    "hs admin media delete MXC... [--config PATH]",
    "hs admin media quarantine|unquarantine MXC [--config PATH]",
    "hs admin media info MXC [--config PATH]",
    "hs admin media usage [--config PATH] [--json]",
  ],
  help: [
    "  --before TIME        purge: media last used before TIME: an age (30d, 12h, 90m; s m h d w), milliseconds since the epoch or an ISO 8601 date",
    "  --local, --remote    purge: only local uploads, or only the cache of other servers' media (default: both)",
    "  --size-gt BYTES      purge: only files larger than this",
    "  --include-avatars    purge: also delete local media used as a user's avatar (kept by default, like protected media)",
  ],
  options: {
    before: { type: "string" },
    local: { type: "boolean" },
    remote: { type: "boolean" },
    "size-gt": { type: "string" },
    "include-avatars": { type: "boolean" },
    json: { type: "boolean" },
  },
  async run({ action, args, values }) {
    const json = !!values.json;
    switch (action) {
      case "purge": {
        if (args.length > 0) throw new UsageError(`unexpected argument '${args[0]}'`);
        if (typeof values.before !== "string") throw new UsageError("admin media purge needs --before TIME");
        const beforeTs = parseBefore(values.before);
        const sizeGtRaw = values["size-gt"];
        if (sizeGtRaw !== undefined && !/^\d{1,15}$/.test(String(sizeGtRaw))) throw new UsageError("--size-gt expects a number of bytes");
        const sizeGt = sizeGtRaw === undefined ? undefined : Number(sizeGtRaw);
        const scopes: Array<"local" | "remote"> = values.local && !values.remote ? ["local"] : values.remote && !values.local ? ["remote"] : ["local", "remote"];
        return withMedia(values, async (media) => {
          const result: Record<string, { deleted: number; files_removed: number }> = {};
          for (const scope of scopes) {
            const r = await media.purge({ scope, beforeTs, sizeGt, keepProtected: scope === "local", keepProfiles: scope === "local" && !values["include-avatars"] });
            result[scope] = { deleted: r.deleted.length, files_removed: r.filesRemoved };
          }
          if (json) out(JSON.stringify({ before_ts: beforeTs, ...result }));
          else for (const [scope, r] of Object.entries(result)) out(`${scope}: deleted ${r.deleted} media (${r.files_removed} files removed) last used before ${new Date(beforeTs).toISOString()}`);
        });
      }
      case "delete": {
        if (args.length === 0) throw new UsageError("admin media delete needs at least one MXC");
        const keys = args.map(parseMxc);
        return withMedia(values, async (media) => {
          const r = await media.deleteMedia(keys);
          const gone = new Set(r.deleted.map((k) => `${k.origin}/${k.mediaId}`));
          for (const k of keys) out(`${gone.has(`${k.origin}/${k.mediaId}`) ? "deleted" : "not found"}: mxc://${k.origin}/${k.mediaId}`);
          if (gone.size < keys.length) return 1;
        });
      }
      case "quarantine":
      case "unquarantine": {
        if (args.length !== 1) throw new UsageError(`admin media ${action} needs one MXC`);
        const k = parseMxc(args[0]!);
        return withMedia(values, async (media) => {
          const ok = action === "quarantine" ? await media.quarantine(k.origin, k.mediaId, "hs admin") : await media.unquarantine(k.origin, k.mediaId);
          if (!ok) throw new RunError(`mxc://${k.origin}/${k.mediaId}: unknown${action === "quarantine" ? " or protected" : ""}`);
          out(`${action}d: mxc://${k.origin}/${k.mediaId}`);
        });
      }
      case "info": {
        if (args.length !== 1) throw new UsageError("admin media info needs one MXC");
        const k = parseMxc(args[0]!);
        return withMedia(values, async (media) => {
          const m = await media.find(k.origin, k.mediaId);
          if (!m) throw new RunError(`mxc://${k.origin}/${k.mediaId}: unknown`);
          out(JSON.stringify(m, null, 2));
        });
      }
      case "usage": {
        if (args.length > 0) throw new UsageError(`unexpected argument '${args[0]}'`);
        return withMedia(values, async (media) => {
          const { users } = await media.usageByUser({ from: 0, limit: 1_000_000, orderBy: "media_length", dir: "b" });
          const disk = await media.files.diskUsage();
          if (json) out(JSON.stringify({ disk_bytes: disk, users: users.map((u) => ({ user_id: u.userId, media_count: u.mediaCount, media_length: u.mediaLength })) }));
          else {
            out(`media store ${media.files.root}: ${mib(disk)} on disk (identical files stored once)`);
            for (const u of users) out(`${u.userId}\t${u.mediaCount} files\t${mib(u.mediaLength)}`);
          }
        });
      }
      default:
        throw new UsageError("expected: admin media purge|delete|quarantine|unquarantine|info|usage");
    }
  },
});
