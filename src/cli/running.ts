// Whether the configured server seems to be running: something accepts connections on one of the
// config's listener ports (commands that replace the database refuse then).
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
