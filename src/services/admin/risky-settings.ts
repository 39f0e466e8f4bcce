// Settings an operator should know are risky, for the admin console's warning banner
// (GET /_hs/admin/v1/server/warnings): the server computes the list from its configuration and its
// data files; the console only shows it.
import { statSync } from "node:fs";
import { dirname } from "node:path";
import type { Config } from "../../config/schema.ts";
import { IpRangeSet } from "../../util/ip-range.ts";

export interface RiskySetting {
  /** A stable identifier (for tests and for a console that hides a warning it has shown). */
  id: string;
  /** danger: strangers can abuse the server or its data now; warning: a weakness to look at. */
  severity: "danger" | "warning";
  /** The setting(s) or file involved, as homeserver.toml spells them. */
  setting: string;
  message: string;
}

/** Addresses outbound requests must never reach: loopback, private networks, cloud metadata. */
const PRIVATE_PROBES = ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1", "fd00::1"];

/** File permission bits of a path, or undefined when it cannot be read (missing, no access). */
export type ModeOf = (path: string) => number | undefined;
const fsMode: ModeOf = (path) => {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
};

/**
 * Whether a file can be read by other users (who: "others", or "group" members): its read bit, and
 * the search bit of every directory above it (a 0700 data directory protects a 0644 file).
 * A directory that cannot be inspected counts as open.
 */
function readableBy(path: string, who: "others" | "group", modeOf: ModeOf): number | undefined {
  const [r, x] = who === "others" ? [0o004, 0o001] : [0o040, 0o010];
  const mode = modeOf(path);
  if (mode === undefined || (mode & r) === 0) return undefined;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const m = modeOf(dir);
    if (m !== undefined && (m & x) === 0) return undefined;
    if (dir === dirname(dir)) break;
  }
  return mode;
}

const isLoopback = (addr: string) => addr === "localhost" || addr === "::1" || addr.startsWith("127.");

export function riskySettings(config: Config, modeOf: ModeOf = fsMode): RiskySetting[] {
  const out: RiskySetting[] = [];
  const add = (id: string, severity: RiskySetting["severity"], setting: string, message: string) => out.push({ id, severity, setting, message });

  // Registration: hs has no CAPTCHA or e-mail check, so "open" means anyone, bots included.
  if (config.registration.mode === "open") {
    add(
      "open_registration",
      "danger",
      "registration.mode",
      'Anyone can create an account on this server, with no registration token and no CAPTCHA: spammers and bots too. Use mode = "token" and hand out registration tokens, unless this is deliberate.',
    );
    if (config.password_policy.minimum_length < 8) {
      add("weak_password_policy", "warning", "password_policy.minimum_length", `Registration is open and new passwords may be as short as ${Math.max(1, config.password_policy.minimum_length)} character(s); 10 or more is advised.`);
    }
  }
  if (config.registration.allow_guests) {
    add("guest_access", "warning", "registration.allow_guests", "Guest accounts can be created by anyone without a password (they can read and, where rooms allow guests, join public rooms).");
  }
  const secret = config.registration.shared_secret;
  if (secret !== "" && secret.length < 16) {
    add("weak_shared_secret", "danger", "registration.shared_secret", "The shared-secret registration key is shorter than 16 characters: whoever guesses it can create admin accounts.");
  }

  // TLS checks on outbound connections.
  if (config.federation.enabled && !config.federation.verify_tls) {
    add("federation_no_tls_verify", "danger", "federation.verify_tls", "Other servers' TLS certificates are not verified: anyone on the network path can impersonate them (forge events, read what is sent).");
  }
  if (!config.http_client.verify_tls) {
    add("http_client_no_tls_verify", "warning", "http_client.verify_tls", "TLS certificates of push gateways and application services (bridges) are not verified: their traffic (message content in pushes) can be intercepted.");
  }

  // Outbound requests that could reach this machine or its private network (SSRF).
  const ssrf = (id: string, setting: string, ranges: readonly string[], what: string) => {
    let set: IpRangeSet;
    try {
      set = new IpRangeSet(ranges);
    } catch {
      return;
    }
    const open = PRIVATE_PROBES.filter((ip) => !set.contains(ip));
    if (open.length) add(id, "warning", setting, `${what} may connect to private addresses (${open.join(", ")} are not denied): users can make the server reach services on its own network.`);
  };
  if (config.federation.enabled) ssrf("federation_ip_ranges", "federation.ip_range_denylist", config.federation.ip_range_denylist, "Federation requests");
  ssrf("http_client_ip_ranges", "http_client.ip_range_denylist", config.http_client.ip_range_denylist, "Push gateway requests");
  if (config.url_preview.enabled) ssrf("url_preview_ip_ranges", "url_preview.ip_range_denylist", config.url_preview.ip_range_denylist, "URL previews");

  // Listeners: unauthenticated metrics on a public address; plain HTTP on a public address.
  for (const [i, l] of config.listeners.entries()) {
    if (isLoopback(l.bind_address)) continue;
    if (l.resources.includes("metrics")) {
      add(`metrics_public_${i}`, "warning", `listeners[${i}].resources`, `The metrics (unauthenticated) are served on ${l.bind_address}:${l.port}, an address others may reach: give them a listener on a private address.`);
    }
    if (!l.tls && !l.x_forwarded && l.resources.some((r) => r === "client" || r === "federation")) {
      add(
        `plain_http_${i}`,
        "warning",
        `listeners[${i}]`,
        `The listener on ${l.bind_address}:${l.port} speaks plain HTTP to other machines with neither tls nor x_forwarded (a TLS reverse proxy): passwords and tokens could travel unencrypted.`,
      );
    }
  }

  // Data files readable by other users of the machine.
  const keyMode = readableBy(config.signing_key_path, "others", modeOf) ?? readableBy(config.signing_key_path, "group", modeOf);
  if (keyMode !== undefined) {
    add("signing_key_readable", "danger", "signing_key_path", `The signing key ${config.signing_key_path} can be read by other users of this machine (mode ${keyMode.toString(8)}): with it, anyone can sign events as this server. chmod 600 it.`);
  }
  if (config.database.backend === "sqlite" && config.database.path !== ":memory:") {
    const dbMode = readableBy(config.database.path, "others", modeOf);
    if (dbMode !== undefined) {
      add("database_readable", "danger", "database.path", `The database ${config.database.path} can be read by every user of this machine (mode ${dbMode.toString(8)}, its directories open): messages, password hashes and keys. chmod 600 it (or 700 its directory).`);
    }
  }
  return out;
}
