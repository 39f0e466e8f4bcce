// Structured logging: one JSON object per line to stderr (and optionally a file).
// Levels follow the usual order; the threshold comes from [logging] level.
import { appendFileSync } from "node:fs";

export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let threshold = ORDER.info;
let file: string | undefined;
let pretty = false;

export function configureLogging(opts: { level?: LogLevel; file?: string; pretty?: boolean }): void {
  if (opts.level) threshold = ORDER[opts.level];
  file = opts.file || undefined;
  if (opts.pretty !== undefined) pretty = opts.pretty;
}

function emit(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
  if (ORDER[level] < threshold) return;
  const rec = { ts: new Date().toISOString(), level, msg, ...fields };
  const line = pretty
    ? `${rec.ts} ${level.toUpperCase().padEnd(5)} ${msg}${fields ? " " + JSON.stringify(fields) : ""}\n`
    : JSON.stringify(rec) + "\n";
  if (file) {
    try {
      appendFileSync(file, line);
      return;
    } catch {
      // fall back to stderr when the log file is not writable
    }
  }
  process.stderr.write(line);
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => emit("debug", msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => emit("info", msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => emit("warn", msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => emit("error", msg, fields),
};
