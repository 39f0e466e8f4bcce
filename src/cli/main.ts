// `hs <command>`: the command-line entry point. Wrong usage prints one line and exits 2;
// run-time errors print one line and exit 1.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { SERVER_VERSION } from "../protocol/versions.ts";
import { InterruptedError, setPromptCommand } from "./prompt.ts";

export class UsageError extends Error {}
export class RunError extends Error {}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** One line per flag. */
  help: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  allowPositionals?: number;
  run(args: { values: Record<string, string | boolean | undefined>; positionals: string[] }): Promise<number | void>;
}

const commands = new Map<string, Command>();

export function registerCommand(cmd: Command): void {
  commands.set(cmd.name, cmd);
}

function generalHelp(): string {
  const lines = [
    `hs ${SERVER_VERSION} — a Matrix homeserver`,
    "",
    "Usage: hs <command> [options]",
    "",
    "Commands:",
    ...[...commands.values()].map((c) => `  ${c.name.padEnd(18)} ${c.summary}`),
    "  help [command]     Show help for a command",
    "",
    "Run `hs <command> --help` for the options of a command.",
  ];
  return lines.join("\n");
}

function commandHelp(c: Command): string {
  return `Usage: ${c.usage}\n\n${c.summary}\n\nOptions:\n${c.help}\n  -h, --help           Show this help`;
}

export async function main(argv: string[]): Promise<number> {
  // Everything hs creates (database, -wal/-shm, media, backups, keys, logs) is private to its
  // account, whatever the umask it was started with (see src/util/private-files.ts).
  process.umask(0o077);
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    const target = rest[0] ? commands.get(rest[0]) : undefined;
    if (rest[0] && !target) {
      process.stderr.write(`hs: unknown command '${rest[0]}' (see hs help)\n`);
      return 2;
    }
    process.stdout.write((target ? commandHelp(target) : generalHelp()) + "\n");
    return name ? 0 : 2;
  }
  if (name === "--version" || name === "-V") return (await commands.get("version")!.run({ values: {}, positionals: [] })) ?? 0;
  const cmd = commands.get(name);
  if (!cmd) {
    process.stderr.write(`hs: unknown command '${name}' (see hs help)\n`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...cmd.options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    process.stderr.write(`hs ${name}: ${(e as Error).message.split("\n")[0]} (see hs ${name} --help)\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(commandHelp(cmd) + "\n");
    return 0;
  }
  if (parsed.positionals.length > (cmd.allowPositionals ?? 0)) {
    process.stderr.write(`hs ${name}: unexpected argument '${parsed.positionals[cmd.allowPositionals ?? 0]}' (see hs ${name} --help)\n`);
    return 2;
  }
  setPromptCommand(name);
  try {
    return (await cmd.run(parsed as never)) ?? 0;
  } catch (e) {
    if (e instanceof InterruptedError) {
      process.stderr.write(`hs ${name}: interrupted\n`);
      return 130;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`hs ${name}: ${e.message} (see hs ${name} --help)\n`);
      return 2;
    }
    process.stderr.write(`hs ${name}: ${(e as Error).message}\n`);
    return 1;
  }
}
