// `hs admin rooms list|purge`: rooms on the database. A purge removes every trace of a room; while
// local users are still joined it needs --force (they lose the room without a leave event), so the
// running server's DELETE /_synapse/admin/v2/rooms is the better tool for rooms in use.
import { createRepositories } from "../../storage/repos/index.ts";
import { MatrixError } from "../../protocol/errors.ts";
import { isValidRoomId } from "../../protocol/ids.ts";
import { OfflineAdmin } from "../../services/admin/offline.ts";
import { RunError, UsageError } from "../main.ts";
import { runningListener } from "../running.ts";
import { openAdminDatabase, registerAdminTopic } from "./admin.ts";

registerAdminTopic({
  name: "rooms",
  summary: "rooms",
  usage: ["hs admin rooms list [--search TERM] [--json] [--config PATH]", "hs admin rooms purge ROOM_ID [--block] [--force] [--config PATH]"],
  help: [
    "  --search TERM        List rooms whose ID, name or alias contains TERM",
    "  --block              Also block the room: local users can never join it again",
    "  --force              Purge even while local users are joined (no leave events are sent), or while the server runs",
  ],
  options: {
    search: { type: "string" },
    block: { type: "boolean" },
    force: { type: "boolean" },
    json: { type: "boolean" },
  },
  async run({ action, args, values }) {
    if (action !== "list" && action !== "purge") throw new UsageError("expected: admin rooms list|purge");
    const [room, extra] = args;
    if (action === "list" && room !== undefined) throw new UsageError(`unexpected argument '${room}'`);
    if (action === "purge") {
      if (!room) throw new UsageError("admin rooms purge needs the ROOM_ID");
      if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
      if (!room.startsWith("!") || !isValidRoomId(room)) throw new UsageError(`${JSON.stringify(room)} is not a room ID`);
    }
    const allowed = action === "list" ? ["search", "json"] : ["block", "force"];
    for (const [k, v] of Object.entries(values)) {
      if (v !== undefined && k !== "config" && k !== "help" && !allowed.includes(k)) throw new UsageError(`admin rooms ${action} takes no option --${k}`);
    }
    const { config, db } = await openAdminDatabase(values);
    const admin = new OfflineAdmin(createRepositories(db), config.server_name);
    try {
      if (action === "list") {
        const rooms = await admin.listRooms(values.search as string | undefined);
        if (values.json) process.stdout.write(JSON.stringify({ rooms, total_rooms: rooms.length }) + "\n");
        else if (rooms.length === 0) process.stdout.write("No rooms.\n");
        else {
          for (const r of rooms) {
            process.stdout.write(`${r.room_id}\t${r.name ?? "-"}\t${r.canonical_alias ?? "-"}\tmembers=${r.joined_members} local=${r.joined_local_members}\tv${r.version}${r.public ? "\tpublic" : ""}\n`);
          }
        }
        return;
      }
      // A running server keeps the room in its caches: purge through it, or stop it first.
      const running = await runningListener(config);
      if (running && !values.force) {
        throw new RunError(`the server is running (${running}): use DELETE /_synapse/admin/v2/rooms/${room} on it, stop it first, or pass --force`);
      }
      const r = await admin.purgeRoom(room!, { force: !!values.force, block: !!values.block, by: "@hs-cli:" + config.server_name });
      const total = Object.values(r.deleted).reduce((a, b) => a + b, 0);
      process.stdout.write(`Purged ${room}: ${total} rows from ${Object.keys(r.deleted).length} tables${values.block ? "; blocked" : ""}\n`);
    } catch (e) {
      if (e instanceof MatrixError) throw new RunError(e.message);
      throw e;
    } finally {
      await db.close();
    }
  },
});
