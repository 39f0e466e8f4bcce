import { loadConfig } from "../../config/load.ts";
import { startHomeserver, type Homeserver } from "../../homeserver.ts";
import { configureLogging, log } from "../../util/log.ts";
import { registerCommand } from "../main.ts";

export function defaultConfigPath(): string {
  return process.env.HS_CONFIG || "./homeserver.toml";
}

/**
 * An error escaping to the event loop (seen: postgres.js writing to a socket that PostgreSQL closed
 * during a restart) is logged and the server keeps serving: every write is transactional, so nothing
 * is half-done. A storm of them (over 100 a minute) means something is badly wrong: exit 1 and let
 * the supervisor restart the server.
 */
function installCrashGuard(): void {
  let recent: number[] = [];
  const onError = (kind: string) => (e: unknown) => {
    const now = Date.now();
    recent = [...recent.filter((t) => now - t < 60_000), now];
    log.error(kind, { error: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined });
    if (recent.length > 100) {
      log.error("too many uncaught errors; exiting");
      process.exit(1);
    }
  };
  process.on("uncaughtException", onError("uncaught exception"));
  process.on("unhandledRejection", onError("unhandled promise rejection"));
}

/** The next steps, as text: the URL to open and how to create the first admin. */
export function nextStepsText(configPath: string, url: string, serving: boolean): string {
  const cfg = configPath === "./homeserver.toml" ? "" : ` --config ${configPath}`;
  return [
    "Next steps:",
    ...(serving ? [] : [`  - Start the server:        hs serve${cfg}`]),
    `  - Create the first admin:  hs register-user${cfg} --admin   (in another terminal${serving ? "" : ", with the server running"})`,
    `  - Open ${url} in a browser and sign in.`,
  ].join("\n");
}

/** On a server without any account yet (a first start): what to do next, instead of silence. */
async function printNextSteps(hs: Homeserver, configPath: string, pretty: boolean): Promise<void> {
  // Not overview(): it counts every event, and the first requests would wait for that scan.
  try {
    if (await hs.services.adminServer.hasAccounts()) return;
  } catch {
    return;
  }
  // Where clients reach the server (public_baseurl); the listener's own address may not be reachable.
  const url = hs.config.public_baseurl;
  if (pretty) process.stderr.write(`\nhs is running. ${nextStepsText(configPath, url, true)}\n\n`);
  else log.info("no accounts yet: next steps", { open: url, first_admin: `hs register-user --config ${configPath} --admin` });
}

registerCommand({
  name: "serve",
  summary: "Run the homeserver (client, federation, media and web client)",
  usage: "hs serve [--config PATH]",
  help: "  -c, --config PATH    The config file (default ./homeserver.toml, or $HS_CONFIG)",
  options: { config: { type: "string", short: "c" } },
  async run({ values }) {
    const { config, warnings } = loadConfig((values.config as string | undefined) ?? defaultConfigPath());
    const prettyLog = config.logging.format === "auto" ? !!process.stderr.isTTY : config.logging.format === "text";
    configureLogging({ level: config.logging.level, file: config.logging.file, pretty: prettyLog, modules: config.logging.modules });
    for (const w of warnings) log.warn(w);
    installCrashGuard();
    const hs = await startHomeserver(config, { prettyLog });
    await printNextSteps(hs, (values.config as string | undefined) ?? defaultConfigPath(), prettyLog);
    await new Promise<void>((resolve) => {
      const onSignal = (sig: string) => {
        log.info("received signal", { signal: sig });
        void hs.stop(10000).then(resolve);
      };
      process.once("SIGTERM", () => onSignal("SIGTERM"));
      process.once("SIGINT", () => onSignal("SIGINT"));
    });
    return 0;
  },
});
