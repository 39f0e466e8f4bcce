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
  /** Help of its own (commands with subcommands), given the positionals before --help. */
  helpText?(positionals: string[]): string;
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

/** The nearest of `candidates` to a mistyped word, when it is close enough to be a likely typo. */
export function suggest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Damerau–Levenshtein (optimal string alignment): a swap of two letters ("sreve") counts once. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

function unknownCommand(name: string): string {
  const near = suggest(name, [...commands.keys(), "help"]);
  return `hs: unknown command '${name}'${near ? ` (did you mean \`hs ${near}\`?)` : ""}; see hs help`;
}

/** node:util parseArgs errors, said in hs's words on one line. */
function usageProblem(e: unknown, options: NonNullable<ParseArgsConfig["options"]>): string {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  const opt = /'(-[^' ,]+)/.exec(msg)?.[1] ?? /'-\w, (--[^' ]+)/.exec(msg)?.[1];
  const long = /(--[\w-]+)/.exec(msg)?.[1] ?? opt;
  if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && opt) {
    const names = Object.entries(options).flatMap(([k, o]) => [`--${k}`, ...(o.short ? [`-${o.short}`] : [])]);
    const near = opt.startsWith("--") ? suggest(opt, names.filter((n) => n.startsWith("--"))) : undefined;
    return `unknown option ${opt}${near ? ` (did you mean ${near}?)` : ""}`;
  }
  if (err.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && long) {
    if (/does not take an argument/.test(msg)) return `option ${long} takes no value`;
    if (/ambiguous/.test(msg)) return `option ${long} needs a value (one starting with '-' is written ${long}=-VALUE)`;
    return `option ${long} needs a value`;
  }
  return msg.split("\n")[0]!.replace(/'/g, "");
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
      process.stderr.write(unknownCommand(rest[0]) + "\n");
      return 2;
    }
    process.stdout.write((target ? (target.helpText ? target.helpText(rest.slice(1)) : commandHelp(target)) : generalHelp()) + "\n");
    return name ? 0 : 2;
  }
  if (name === "--version" || name === "-V" || name === "-v") return (await commands.get("version")!.run({ values: {}, positionals: [] })) ?? 0;
  const cmd = commands.get(name);
  if (!cmd) {
    process.stderr.write((name.startsWith("-") ? `hs: unknown option ${name}; see hs help` : unknownCommand(name)) + "\n");
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
    process.stderr.write(`hs ${name}: ${usageProblem(e, cmd.options)} (see hs ${name} --help)\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write((cmd.helpText ? cmd.helpText(parsed.positionals) : commandHelp(cmd)) + "\n");
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
