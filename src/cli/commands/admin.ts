// `hs admin <topic> <action> ...`: offline administration on the database (the server may be
// running or not). Each topic (tokens, users, rooms, media, ...) registers itself here with
// registerAdminTopic; this module owns the one `admin` command and dispatches to the topic.
import type { ParseArgsConfig } from "node:util";
import { loadConfig } from "../../config/load.ts";
import type { Config } from "../../config/schema.ts";
import type { Db } from "../../storage/engines/db.ts";
import { openDatabase } from "../../storage/engines/open.ts";
import { configureLogging } from "../../util/log.ts";
import { registerCommand, suggest, UsageError } from "../main.ts";
import { defaultConfigPath } from "./serve.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

export interface AdminArgs {
  action: string | undefined;
  /** Positionals after the action. */
  args: string[];
  values: Record<string, string | boolean | undefined>;
}

export interface AdminTopic {
  name: string;
  /** Short description for `hs admin --help` and the command list. */
  summary: string;
  /** Usage lines, each starting with `hs admin <topic> ...`. */
  usage: string[];
  /** Help lines for the options this topic adds (`  --flag   what it does`). */
  help: string[];
  /** Options this topic takes; shared names must have the same type across topics. */
  options: Options;
  run(a: AdminArgs): Promise<number | void>;
}

const topics = new Map<string, AdminTopic>();
const options: Options = { config: { type: "string", short: "c" } };
const helpLines: string[] = ["  -c, --config PATH    The config file naming the database (default ./homeserver.toml, or $HS_CONFIG)"];

export function registerAdminTopic(t: AdminTopic): void {
  if (topics.has(t.name)) throw new Error(`admin topic ${t.name} registered twice`);
  for (const [name, o] of Object.entries(t.options)) {
    const prev = options[name];
    if (prev && (prev.type !== o.type || prev.short !== o.short)) throw new Error(`admin option --${name} declared differently by two topics`);
    options[name] = o;
  }
  topics.set(t.name, t);
  helpLines.push(...t.help);
}

/** Loads the config named by --config (or the default) and opens its database (migrated). */
export async function openAdminDatabase(values: Record<string, string | boolean | undefined>): Promise<{ config: Config; db: Db }> {
  const { config } = loadConfig((values.config as string | undefined) ?? defaultConfigPath());
  configureLogging({ level: "warn", file: "", pretty: true });
  const db = await openDatabase(config.database);
  return { config, db };
}

const topicNames = () => [...topics.keys()].join(", ");

const CONFIG_HELP = "  -c, --config PATH    The config file naming the database (default ./homeserver.toml, or $HS_CONFIG)";

/** `hs admin --help`: the topics as subcommands with their actions; `hs admin TOPIC --help`: that topic's usage and options. */
function adminHelp(positionals: string[]): string {
  const t = positionals[0] ? topics.get(positionals[0]) : undefined;
  if (t) {
    return [`Usage: ${t.usage.join("\n       ")}`, "", `hs admin ${t.name}: ${t.summary}`, "", "Options:", CONFIG_HELP, ...t.help, "  -h, --help           Show this help"].join("\n");
  }
  const lines = [
    "Usage: hs admin <subcommand> <action> [options]",
    "",
    "Administration on the database (the server may be running or not).",
    "",
    "Subcommands:",
  ];
  for (const topic of topics.values()) {
    lines.push(`  ${topic.name.padEnd(10)} ${topic.summary}`);
    for (const u of topic.usage) lines.push(`      ${u.replace(/^hs admin \S+ /, "").replace(/ \[--config PATH\]/, "")}`);
  }
  lines.push("", "Every subcommand takes -c, --config PATH (default ./homeserver.toml, or $HS_CONFIG).", "Run `hs admin <subcommand> --help` for its options.");
  return lines.join("\n");
}

registerCommand({
  name: "admin",
  get summary() {
    return `Administration on the database: ${[...topics.values()].map((t) => t.name).join(", ")} (hs admin --help)`;
  },
  get usage() {
    return [...topics.values()].flatMap((t) => t.usage).join("\n       ");
  },
  get help() {
    return [...new Set(helpLines)].join("\n");
  },
  options,
  allowPositionals: 8,
  helpText: adminHelp,
  async run({ values, positionals }) {
    const [topic, action, ...args] = positionals;
    if (!topic) throw new UsageError(`expected a subcommand: ${topicNames()}`);
    const t = topics.get(topic);
    if (!t) {
      const near = suggest(topic, [...topics.keys()]);
      throw new UsageError(`unknown admin subcommand '${topic}'${near ? ` (did you mean \`hs admin ${near}\`?)` : ""}; subcommands: ${topicNames()}`);
    }
    for (const [k, v] of Object.entries(values)) {
      if (v !== undefined && k !== "config" && k !== "help" && !(k in t.options)) throw new UsageError(`admin ${topic} takes no option --${k}`);
    }
    return t.run({ action, args, values });
  },
});
