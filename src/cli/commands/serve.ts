import { loadConfig } from "../../config/load.ts";
import { startHomeserver } from "../../homeserver.ts";
import { configureLogging, log } from "../../util/log.ts";
import { registerCommand } from "../main.ts";

export function defaultConfigPath(): string {
  return process.env.HS_CONFIG || "./homeserver.toml";
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
    const hs = await startHomeserver(config, { prettyLog });
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
