// Running the hs CLI (from source or a compiled binary) as a user would.
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "../..");
export const BUN = join(ROOT, "node_modules/.bin/bun");

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The command line that runs hs: the compiled binary when given, else `bun bin/hs.ts`. */
export function hsCommand(binary?: string): string[] {
  return binary ? [binary] : [BUN, join(ROOT, "bin/hs.ts")];
}

export async function runHs(args: string[], opts: { cwd?: string; stdin?: string; env?: Record<string, string>; binary?: string; prefix?: string[] } = {}): Promise<RunResult> {
  const proc = Bun.spawn([...(opts.prefix ?? []), ...hsCommand(opts.binary), ...args], {
    cwd: opts.cwd ?? ROOT,
    stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...opts.env },
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port!;
  s.stop(true);
  return port;
}

/** Starts `hs serve` and resolves once the port accepts connections. */
export async function startServe(configPath: string, opts: { binary?: string; prefix?: string[]; url: string; timeoutMs?: number; cwd?: string; env?: Record<string, string> }) {
  const proc = Bun.spawn([...(opts.prefix ?? []), ...hsCommand(opts.binary), "serve", "--config", configPath], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const stderrText = new Response(proc.stderr).text();
  const deadline = Date.now() + (opts.timeoutMs ?? 15000);
  let firstStatus = 0;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${opts.url}/_matrix/client/versions`, { tls: { rejectUnauthorized: false } } as RequestInit);
      firstStatus = r.status;
      break;
    } catch {
      if (proc.exitCode !== null) break;
      await Bun.sleep(50);
    }
  }
  return { proc, firstStatus, stderr: () => stderrText };
}
