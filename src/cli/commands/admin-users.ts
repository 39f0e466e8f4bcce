// `hs admin users list|reset-password|deactivate|set-admin|lock|suspend`: user administration on the database,
// with or without the server running (src/services/admin/offline.ts says what the server finishes).
import { createRepositories } from "../../storage/repos/index.ts";
import { MatrixError } from "../../protocol/errors.ts";
import { OfflineAdmin } from "../../services/admin/offline.ts";
import type { UserListQuery } from "../../storage/repos/admin.ts";
import { prompt } from "../prompt.ts";
import { RunError, UsageError } from "../main.ts";
import { openAdminDatabase, registerAdminTopic } from "./admin.ts";

const ACTIONS = ["list", "reset-password", "deactivate", "set-admin", "lock", "suspend"];

function parseLimit(v: string | boolean | undefined): number {
  if (v === undefined) return 100;
  if (typeof v !== "string" || !/^[1-9][0-9]{0,6}$/.test(v)) throw new UsageError(`--limit expects a positive integer, not ${JSON.stringify(v)}`);
  return Number(v);
}

registerAdminTopic({
  name: "users",
  summary: "users",
  usage: [
    "hs admin users list [--name TERM] [--deactivated] [--guests] [--admins] [--limit N] [--json] [--config PATH]",
    "hs admin users reset-password USER [--password P] [--keep-devices] [--config PATH]",
    "hs admin users deactivate USER [--erase] [--config PATH]",
    "hs admin users set-admin USER [--revoke] [--config PATH]",
    "hs admin users lock USER [--revoke] [--config PATH]",
    "hs admin users suspend USER [--revoke] [--config PATH]",
  ],
  help: [
    "  USER                 A user ID (@alice:example.org) or a localpart (alice)",
    "  --name TERM          List users whose localpart or display name contains TERM",
    "  --deactivated        Include deactivated users; --guests: include guests; --admins: only admins",
    "  --limit N            List at most N users (default 100)",
    "  --password P         The new password (prompted twice when omitted)",
    "  --keep-devices       Do not log the user out everywhere after the reset",
    "  --erase              Also mark the user as erased (GDPR)",
    "  --revoke             Take the admin flag (set-admin), lock or suspension away instead of giving it",
    "  lock                 Every request of the user's sessions but logout is refused until unlocked",
    "  suspend              The user can read, leave rooms and redact their own events, but not join,",
    "                       invite, send or change their profile (a running server applies both within 5 min)",
  ],
  options: {
    name: { type: "string" },
    deactivated: { type: "boolean" },
    guests: { type: "boolean" },
    admins: { type: "boolean" },
    limit: { type: "string" },
    password: { type: "string" },
    "keep-devices": { type: "boolean" },
    erase: { type: "boolean" },
    revoke: { type: "boolean" },
    json: { type: "boolean" },
  },
  async run({ action, args, values }) {
    if (!action || !ACTIONS.includes(action)) throw new UsageError(`expected: admin users ${ACTIONS.join("|")}`);
    const [user, extra] = args;
    if (action === "list" ? user !== undefined : extra !== undefined) throw new UsageError(`unexpected argument '${action === "list" ? user : extra}'`);
    if (action !== "list" && !user) throw new UsageError(`admin users ${action} needs the USER`);
    const allowed: Record<string, string[]> = {
      list: ["name", "deactivated", "guests", "admins", "limit", "json"],
      "reset-password": ["password", "keep-devices"],
      deactivate: ["erase"],
      "set-admin": ["revoke"],
      lock: ["revoke"],
      suspend: ["revoke"],
    };
    for (const [k, v] of Object.entries(values)) {
      if (v !== undefined && k !== "config" && k !== "help" && !allowed[action]!.includes(k)) throw new UsageError(`admin users ${action} takes no option --${k}`);
    }
    const limit = parseLimit(values.limit);
    let password = values.password as string | undefined;
    if (action === "reset-password" && password === undefined) {
      password = await prompt("New password: ", true);
      const again = await prompt("Confirm password: ", true);
      if (password !== again) throw new RunError("the passwords do not match");
    }

    const { config, db } = await openAdminDatabase(values);
    const admin = new OfflineAdmin(createRepositories(db), config.server_name);
    try {
      if (action === "list") {
        const q: UserListQuery = {
          from: 0,
          limit,
          name: values.name as string | undefined,
          guests: !!values.guests,
          deactivated: values.deactivated ? "include" : "exclude",
          admins: values.admins ? true : undefined,
          orderBy: "name",
          dir: "f",
        };
        const { users, total } = await admin.listUsers(q);
        if (values.json) {
          process.stdout.write(JSON.stringify({ users: users.map((u) => ({ name: u.user_id, admin: u.is_admin === 1, deactivated: u.deactivated === 1, is_guest: u.is_guest === 1, user_type: u.user_type, displayname: u.displayname === null ? null : JSON.parse(u.displayname), creation_ts: u.created_ts, last_seen_ts: u.last_seen_ts })), total }) + "\n");
        } else if (users.length === 0) {
          process.stdout.write("No users.\n");
        } else {
          for (const u of users) {
            const flags = [u.is_admin ? "admin" : "", u.deactivated ? "deactivated" : "", u.is_guest ? "guest" : "", u.erased ? "erased" : "", u.locked ? "locked" : "", u.suspended ? "suspended" : "", u.user_type ?? ""].filter(Boolean);
            const dn = u.displayname === null ? "" : String(JSON.parse(u.displayname));
            process.stdout.write(`${u.user_id}\t${dn}\t${flags.join(",") || "-"}\tcreated=${new Date(u.created_ts).toISOString()}\n`);
          }
          if (total > users.length) process.stdout.write(`(${users.length} of ${total}; use --limit)\n`);
        }
        return;
      }
      const userId = await admin.resolveUser(user!);
      if (action === "reset-password") {
        const r = await admin.resetPassword(userId, password!, !values["keep-devices"]);
        process.stdout.write(`Password of ${userId} changed${values["keep-devices"] ? "" : `; ${r.tokensRevoked} session(s) logged out`}\n`);
      } else if (action === "deactivate") {
        await admin.deactivate(userId, !!values.erase);
        process.stdout.write(`Deactivated ${userId}${values.erase ? " (erased)" : ""}; the server removes their devices and rooms at start-up or within a minute\n`);
      } else if (action === "lock" || action === "suspend") {
        await admin.setModeration(userId, action === "lock" ? "locked" : "suspended", !values.revoke);
        process.stdout.write(`${userId} is ${values.revoke ? "no longer" : "now"} ${action === "lock" ? "locked" : "suspended"}\n`);
      } else {
        await admin.setAdmin(userId, !values.revoke);
        process.stdout.write(`${userId} is ${values.revoke ? "no longer" : "now"} a server admin\n`);
      }
    } catch (e) {
      if (e instanceof MatrixError) throw new RunError(e.message);
      throw e;
    } finally {
      await db.close();
    }
  },
});
