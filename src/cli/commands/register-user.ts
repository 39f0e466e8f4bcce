// Like Synapse's register_new_matrix_user: registers through the running server's shared-secret
// admin API (GET nonce, then POST with an HMAC-SHA1 over nonce\0user\0password\0admin|notadmin).
import { loadConfig } from "../../config/load.ts";
import { sharedSecretMac } from "../../services/registration.ts";
import { prompt } from "../prompt.ts";
import { registerCommand, RunError, UsageError } from "../main.ts";
import { defaultConfigPath } from "./serve.ts";

registerCommand({
  name: "register-user",
  summary: "Create an account on a running server through the shared-secret registration API",
  usage: "hs register-user [--config PATH] [--user U] [--password P] [--admin|--no-admin] [--shared-secret S] [URL]",
  help: [
    "  -c, --config PATH    Config file with registration.shared_secret (default ./homeserver.toml, or $HS_CONFIG)",
    "  -u, --user U         Localpart of the new user (prompted for when omitted)",
    "  -p, --password P     Password (prompted for twice, hidden, when omitted)",
    "  -a, --admin          Make the user a server admin",
    "  --no-admin           Make a normal user (asked when neither flag is given)",
    "  -k, --shared-secret S  Use this secret instead of the config file's",
    "  URL                  The server (default: the first client listener of the config)",
  ].join("\n"),
  options: {
    config: { type: "string", short: "c" },
    user: { type: "string", short: "u" },
    password: { type: "string", short: "p" },
    admin: { type: "boolean", short: "a" },
    "no-admin": { type: "boolean" },
    "shared-secret": { type: "string", short: "k" },
  },
  allowPositionals: 1,
  async run({ values, positionals }) {
    if (values.admin && values["no-admin"]) throw new UsageError("--admin and --no-admin are exclusive");
    let secret = values["shared-secret"] as string | undefined;
    let url = positionals[0];
    if (!secret || !url) {
      const { config } = loadConfig((values.config as string | undefined) ?? defaultConfigPath());
      secret ??= config.registration.shared_secret;
      if (!url) {
        const l = config.listeners.find((x) => x.resources.includes("client")) ?? config.listeners[0]!;
        const host = ["0.0.0.0", "::", ""].includes(l.bind_address) ? "localhost" : l.bind_address.includes(":") ? `[${l.bind_address}]` : l.bind_address;
        url = `${l.tls ? "https" : "http"}://${host}:${l.port}`;
      }
    }
    if (!secret) throw new RunError("no registration.shared_secret in the config (and no --shared-secret)");
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`not a URL: ${url}`);
    }
    const base = parsed.toString().replace(/\/$/, "");

    // Before asking anything: is the server there? (The nonce is fetched again after the prompts.)
    const endpoint = `${base}/_synapse/admin/v1/register`;
    const unreachable = (e: unknown) =>
      new RunError(
        `cannot reach the server at ${base} (${(e as { code?: string }).code ?? (e as Error).message}): is it running? Start it with \`hs serve${values.config ? ` --config ${values.config}` : ""}\` (or \`make run\`, or \`systemctl start hs\`), or pass its URL`,
      );
    try {
      await fetch(endpoint, { signal: AbortSignal.timeout(10_000) });
    } catch (e) {
      throw unreachable(e);
    }

    let user = values.user as string | undefined;
    while (!user) user = (await prompt("New user localpart: ")).trim();
    let password = values.password as string | undefined;
    if (password === undefined) {
      password = await prompt("Password: ", true);
      if (!password) throw new RunError("password must not be empty");
      const again = await prompt("Confirm password: ", true);
      if (again !== password) throw new RunError("passwords do not match");
    }
    let admin = !!values.admin;
    if (!values.admin && !values["no-admin"]) {
      const a = (await prompt("Make admin [no]: ")).trim().toLowerCase();
      admin = a === "y" || a === "yes" || a === "true";
    }

    let res: Response;
    try {
      res = await fetch(endpoint);
    } catch (e) {
      throw unreachable(e);
    }
    const nonceBody = (await res.json().catch(() => ({}))) as { nonce?: string; error?: string };
    if (!res.ok || !nonceBody.nonce) throw new RunError(`server refused to give a nonce: ${res.status} ${nonceBody.error ?? ""}`.trim());
    const mac = sharedSecretMac(secret, nonceBody.nonce, user, password, admin);
    res = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ nonce: nonceBody.nonce, username: user, password, admin, mac }),
    });
    const body = (await res.json().catch(() => ({}))) as { user_id?: string; error?: string; errcode?: string };
    if (!res.ok) throw new RunError(`registration failed: ${body.errcode ?? res.status}: ${body.error ?? ""}`.trim());
    process.stdout.write(`Success! Registered ${body.user_id}${admin ? " (admin)" : ""}\n`);
  },
});
