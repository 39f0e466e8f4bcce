// Structured logging: one JSON object per line (or a human-readable line) to stderr, or to a file.
// The threshold comes from [logging] level, overridable per module ([logging] modules =
// ["federation=debug"]); each module logs through logger("name"), and `log` is module "hs".
//
// Secrets never reach the log: fields named like passwords, tokens, secrets or MACs are replaced,
// and access tokens inside strings (Bearer headers, access_token= query strings, hs_ tokens) are
// masked, whatever the caller passed.
import { appendFileSync } from "node:fs";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "json" | "text";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let threshold = ORDER.info;
let moduleThresholds = new Map<string, number>();
let file: string | undefined;
let format: LogFormat = "json";

export interface LoggingOptions {
  level?: LogLevel;
  file?: string;
  /** Human-readable lines (same as format: "text"). */
  pretty?: boolean;
  format?: LogFormat;
  /** Per-module levels: "module=level" entries. */
  modules?: readonly string[];
}

export function configureLogging(opts: LoggingOptions): void {
  if (opts.level) threshold = ORDER[opts.level];
  file = opts.file || undefined;
  if (opts.pretty !== undefined) format = opts.pretty ? "text" : "json";
  if (opts.format) format = opts.format;
  if (opts.modules) {
    moduleThresholds = new Map();
    for (const entry of opts.modules) {
      const [mod, level] = entry.split("=");
      if (mod && level && level in ORDER) moduleThresholds.set(mod, ORDER[level as LogLevel]);
    }
  }
}

const SECRET_KEY = /^(password|new_password|old_password|access_token|refresh_token|login_token|token|secret|shared_secret|registration_shared_secret|authorization|mac|as_token|hs_token|turn_password|turn_shared_secret|signing_key)$|(_password|_secret|_token)$/i;
const SECRET_IN_TEXT: Array<[RegExp, string]> = [
  [/(access_token|refresh_token|login_token|token)=([^&\s"']+)/gi, "$1=<redacted>"],
  [/Bearer\s+[^\s"',}]+/gi, "Bearer <redacted>"],
  [/\b(hs|hsr|hsl|syt|syr)_[A-Za-z0-9_]{16,}/g, "<redacted token>"],
];

/** Masks secrets in a value to be logged (keys named like secrets, tokens inside strings). */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === "string") {
    let s = value;
    for (const [re, rep] of SECRET_IN_TEXT) s = s.replace(re, rep);
    return s;
  }
  if (depth > 6 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    // request_id, txn_id, delete_id and the like are identifiers, not secrets.
    out[k] = SECRET_KEY.test(k) && !/_id$/.test(k) && v !== undefined && v !== null ? "<redacted>" : redact(v, depth + 1);
  }
  return out;
}

function enabled(module: string, level: LogLevel): boolean {
  return ORDER[level] >= (moduleThresholds.get(module) ?? threshold);
}

function emit(module: string, level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
  if (!enabled(module, level)) return;
  const safe = fields ? (redact(fields) as Record<string, unknown>) : undefined;
  const safeMsg = redact(msg) as string;
  const ts = new Date().toISOString();
  const line =
    format === "text"
      ? `${ts} ${level.toUpperCase().padEnd(5)} [${module}] ${safeMsg}${safe && Object.keys(safe).length ? " " + JSON.stringify(safe) : ""}\n`
      : JSON.stringify({ ts, level, module, msg: safeMsg, ...safe }) + "\n";
  if (file) {
    try {
      appendFileSync(file, line, { mode: 0o600 });
      return;
    } catch {
      // fall back to stderr when the log file is not writable
    }
  }
  process.stderr.write(line);
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Whether a level is written for this module (to skip building expensive fields). */
  enabled(level: LogLevel): boolean;
}

/** A logger for one module (its name appears in every line and selects its level). */
export function logger(module: string): Logger {
  return {
    debug: (msg, fields) => emit(module, "debug", msg, fields),
    info: (msg, fields) => emit(module, "info", msg, fields),
    warn: (msg, fields) => emit(module, "warn", msg, fields),
    error: (msg, fields) => emit(module, "error", msg, fields),
    enabled: (level) => enabled(module, level),
  };
}

/** The general logger (module "hs"). */
export const log: Logger = logger("hs");
