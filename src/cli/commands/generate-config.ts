import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { renderConfig } from "../../config/generate.ts";
import { SCHEMA } from "../../config/schema.ts";
import { writeNewSigningKey } from "../../services/signing-key-file.ts";
import { ensurePrivateDir } from "../../util/private-files.ts";
import { randomString } from "../../util/random.ts";
import { defaultConfigPath, nextStepsText } from "./serve.ts";
import { registerCommand, RunError, UsageError } from "../main.ts";

registerCommand({
  name: "generate-config",
  summary: "Write a commented homeserver.toml, a signing key and a registration shared secret",
  usage: "hs generate-config --server-name NAME [--config-path PATH] [--data-dir DIR] [--public-baseurl URL] [--port N]",
  help: [
    "  --server-name NAME   The server name (domain part of user IDs), e.g. example.org (required)",
    "  --config-path PATH   Where to write the config (default ./homeserver.toml, or $HS_CONFIG)",
    "  --data-dir DIR       Directory for the database, signing key and media (default ./data)",
    "  --public-baseurl URL The URL clients reach the server at (default https://NAME/)",
    "  --port N             Port of the HTTP listener (default 8008)",
  ].join("\n"),
  options: {
    "server-name": { type: "string" },
    "config-path": { type: "string" },
    "data-dir": { type: "string" },
    "public-baseurl": { type: "string" },
    port: { type: "string" },
  },
  async run({ values }) {
    const serverName = values["server-name"] as string | undefined;
    if (!serverName) throw new UsageError("--server-name is required");
    const problem = SCHEMA.server_name.check?.(serverName);
    if (problem) throw new UsageError(`--server-name: expected ${problem}, found ${JSON.stringify(serverName)}`);
    const baseurl = values["public-baseurl"] as string | undefined;
    if (baseurl !== undefined && SCHEMA.public_baseurl.check?.(baseurl))
      throw new UsageError(`--public-baseurl: expected an http(s) URL, found ${JSON.stringify(baseurl)}`);
    const port = values.port === undefined ? 8008 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: expected 0-65535, found ${JSON.stringify(values.port)}`);

    const configPath = resolve((values["config-path"] as string | undefined) ?? defaultConfigPath());
    if (existsSync(configPath)) throw new RunError(`${configPath} already exists; refusing to overwrite it`);
    const configDir = dirname(configPath);
    const dataDir = resolve((values["data-dir"] as string | undefined) ?? "data");
    // Paths are written relative to the config file when the data dir is below it, so the pair moves together.
    const rel = (p: string) => {
      const r = relative(configDir, p);
      return r.startsWith("..") || isAbsolute(r) ? p : `./${r}`;
    };
    const keyPath = resolve(dataDir, `${serverName}.signing.key`);
    ensurePrivateDir(dataDir);
    mkdirSync(configDir, { recursive: true });
    if (existsSync(keyPath)) {
      process.stderr.write(`keeping the existing signing key ${keyPath}\n`);
    } else {
      const key = writeNewSigningKey(keyPath);
      process.stderr.write(`wrote signing key ${keyPath} (${key.keyId})\n`);
    }
    const text = renderConfig({
      server_name: serverName,
      ...(baseurl ? { public_baseurl: baseurl } : {}),
      signing_key_path: rel(keyPath),
      "registration.shared_secret": randomString(48),
      "password_policy.minimum_length": 10,
      "database.path": rel(resolve(dataDir, "homeserver.db")),
      "media.store_path": rel(resolve(dataDir, "media")),
      listeners: [{ port }],
    });
    writeFileSync(configPath, text, { mode: 0o600, flag: "wx" });
    process.stderr.write(`wrote ${configPath}\n`);
    const given = (values["config-path"] as string | undefined) ?? defaultConfigPath();
    const url = baseurl ?? `https://${serverName}/`;
    process.stderr.write(`\n${nextStepsText(given, url, false)}\n`);
  },
});
