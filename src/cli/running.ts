// Whether the configured server seems to be running: something accepts connections on one of the
// config's listener ports (commands that replace the database refuse then).
import { readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import type { Config } from "../config/schema.ts";

async function accepts(host: string, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 1000);
    Bun.connect({
      hostname: host,
      port,
      socket: {
        open(s) {
          clearTimeout(timer);
          s.end();
          resolve(true);
        },
        data() {},
        error() {
          clearTimeout(timer);
          resolve(false);
        },
        connectError() {
          clearTimeout(timer);
          resolve(false);
        },
      },
    }).catch(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/** The first listener address that accepts connections, or undefined. Port 0 listeners are skipped. */
export async function runningListener(config: Config): Promise<string | undefined> {
  for (const l of config.listeners) {
    if (l.port === 0) continue;
    const host = l.bind_address === "0.0.0.0" || l.bind_address === "" ? "127.0.0.1" : l.bind_address === "::" ? "::1" : l.bind_address;
    if (await accepts(host, l.port)) return `${host.includes(":") ? `[${host}]` : host}:${l.port}`;
  }
  return undefined;
}

/**
 * Other processes that have `path` (or its -wal) open, from /proc/<pid>/fd (Linux; processes of
 * other users are only visible to root). A running server keeps its SQLite database open.
 */
export function processesHoldingFile(path: string): Array<{ pid: number; command: string }> {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return [];
  }
  const targets = new Set([real, `${real}-wal`]);
  const out: Array<{ pid: number; command: string }> = [];
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  } catch {
    return [];
  }
  for (const p of pids) {
    const pid = Number(p);
    if (pid === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${p}/fd/${fd}`);
      } catch {
        continue;
      }
      if (targets.has(link)) {
        let command = "";
        try {
          command = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
        } catch {
          command = "?";
        }
        out.push({ pid, command });
        break;
      }
    }
  }
  return out;
}
