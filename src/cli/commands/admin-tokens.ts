// `hs admin tokens create|list|delete`: manages registration tokens directly in the database (the
// server may be running or not), with the same rules as Synapse's admin API.
import { MatrixError } from "../../protocol/errors.ts";
import { registrationTokenNotice, RegistrationTokens, type RegistrationToken } from "../../services/registration-tokens.ts";
import { createRepositories } from "../../storage/repos/index.ts";
import { RunError, UsageError } from "../main.ts";
import { openAdminDatabase, registerAdminTopic } from "./admin.ts";

function parseCount(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v)) throw new UsageError(`${flag} expects a non-negative integer, not ${JSON.stringify(v)}`);
  return Number(v);
}

/** Milliseconds since the epoch, from an integer or an ISO 8601 date. */
function parseTime(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (/^[0-9]+$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new UsageError(`--expiry-time expects milliseconds since the epoch or an ISO 8601 date, not ${JSON.stringify(v)}`);
  return t;
}

function describe(t: RegistrationToken): string {
  const uses = t.uses_allowed === null ? "unlimited" : String(t.uses_allowed);
  const expiry = t.expiry_time === null ? "never" : new Date(t.expiry_time).toISOString();
  return `${t.token}\tuses_allowed=${uses}\tpending=${t.pending}\tcompleted=${t.completed}\texpires=${expiry}`;
}

registerAdminTopic({
  name: "tokens",
  summary: "registration tokens",
  usage: [
    "hs admin tokens create [--token T | --length N] [--uses-allowed N] [--expiry-time TIME] [--config PATH] [--json]",
    "hs admin tokens list [--valid | --invalid] [--config PATH] [--json]",
    "hs admin tokens delete TOKEN [--config PATH]",
  ],
  help: [
    "  --token T            The token to create (1-64 of A-Z a-z 0-9 . _ ~ -); random when omitted",
    "  --length N           Length of a random token (default 16, at most 64)",
    "  --uses-allowed N     How many registrations the token allows (default: unlimited)",
    "  --expiry-time TIME   When the token expires: milliseconds since the epoch or an ISO 8601 date (default: never)",
    "  --valid, --invalid   List only tokens that can (or can no longer) be used",
    "  --json               Print JSON as Synapse's admin API does",
    "  A TOKEN starting with '-' goes after '--': hs admin tokens delete -- -abc",
  ],
  options: {
    token: { type: "string" },
    length: { type: "string" },
    "uses-allowed": { type: "string" },
    "expiry-time": { type: "string" },
    valid: { type: "boolean" },
    invalid: { type: "boolean" },
    json: { type: "boolean" },
  },
  async run({ action, args, values }) {
    const [arg, extra] = args;
    if (!["create", "list", "delete"].includes(action ?? "")) throw new UsageError("expected: admin tokens create|list|delete");
    if (action === "delete" && !arg) throw new UsageError("admin tokens delete needs the TOKEN");
    if ((action !== "delete" && arg) || extra) throw new UsageError(`unexpected argument '${extra ?? arg}'`);
    if (values.valid && values.invalid) throw new UsageError("--valid and --invalid are exclusive");
    const createReq =
      action === "create"
        ? {
            token: values.token as string | undefined,
            length: parseCount(values.length as string | undefined, "--length"),
            uses_allowed: parseCount(values["uses-allowed"] as string | undefined, "--uses-allowed"),
            expiry_time: parseTime(values["expiry-time"] as string | undefined),
          }
        : undefined;

    const { db, config } = await openAdminDatabase(values);
    const tokens = new RegistrationTokens(createRepositories(db));
    const json = !!values.json;
    try {
      if (action === "create") {
        const t = await tokens.create(createReq!);
        process.stdout.write(json ? JSON.stringify(t) + "\n" : `Created registration token ${describe(t)}\n`);
        const notice = registrationTokenNotice(config.registration.mode);
        if (notice) process.stderr.write(`Note: ${notice}\n`);
      } else if (action === "list") {
        const list = await tokens.list(values.valid ? true : values.invalid ? false : undefined);
        if (json) process.stdout.write(JSON.stringify({ registration_tokens: list }) + "\n");
        else if (list.length === 0) process.stdout.write("No registration tokens.\n");
        else {
          process.stdout.write(list.map(describe).join("\n") + "\n");
          const notice = registrationTokenNotice(config.registration.mode);
          if (notice) process.stderr.write(`Note: ${notice}\n`);
        }
      } else {
        await tokens.delete(arg!);
        process.stdout.write(`Deleted registration token ${arg}\n`);
      }
    } catch (e) {
      if (e instanceof MatrixError) throw new RunError(e.message);
      throw e;
    } finally {
      await db.close();
    }
  },
});
