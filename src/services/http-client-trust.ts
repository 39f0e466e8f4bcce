// [http_client] verify_tls and ca_files: how outbound HTTPS to push gateways and application
// services (bridges) trusts certificates. The CA files are read once, at start-up (the config
// loader has checked that they hold PEM certificates).
import { readFileSync } from "node:fs";
import type { Config } from "../config/schema.ts";

export function httpClientTrust(config: Pick<Config, "http_client">): { verifyTls: boolean; extraCaPems: string[] } {
  return {
    verifyTls: config.http_client.verify_tls,
    extraCaPems: config.http_client.ca_files.map((f) => readFileSync(f, "utf8")),
  };
}
