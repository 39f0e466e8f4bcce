// The server overview of the admin console (GET /_hs/admin/v1/server): version, uptime, the
// database engine and size, and how many users, rooms, events and local media there are.
import type { Config } from "../../config/schema.ts";
import { SERVER_VERSION } from "../../protocol/versions.ts";
import type { Repositories } from "../../storage/repos/index.ts";
import { registrationTokenNotice } from "../registration-tokens.ts";
import { riskySettings, type RiskySetting } from "./risky-settings.ts";

export interface ServerOverview {
  server_name: string;
  server_version: string;
  started_ts: number;
  uptime_seconds: number;
  database: { engine: "sqlite" | "postgres"; size_bytes: number };
  users: number;
  rooms: number;
  events: number;
  local_media: { files: number; bytes: number };
  /** [registration] mode, and what registration tokens need when the server cannot use them. */
  registration: { mode: "closed" | "token" | "open"; token_notice?: string };
}

export class AdminServer {
  constructor(
    private readonly d: { repos: Pick<Repositories, "stats" | "dialect">; config: Config; startedTs: number; now?: () => number },
  ) {}

  /** Whether the server has any account yet (the first start's "next steps"), without counting rows. */
  hasAccounts(): Promise<boolean> {
    return this.d.repos.stats.hasLoginUsers();
  }

  /** Risky settings for the console's warning banner (computed from the configuration and data files each time). */
  warnings(): RiskySetting[] {
    return riskySettings(this.d.config);
  }

  async overview(): Promise<ServerOverview> {
    const now = (this.d.now ?? Date.now)();
    const notice = registrationTokenNotice(this.d.config.registration.mode);
    const [size, counts] = await Promise.all([this.d.repos.stats.databaseSizeBytes(this.d.config.database.path), this.d.repos.stats.serverCounts(this.d.config.server_name)]);
    return {
      server_name: this.d.config.server_name,
      server_version: SERVER_VERSION,
      started_ts: this.d.startedTs,
      uptime_seconds: Math.max(0, Math.floor((now - this.d.startedTs) / 1000)),
      database: { engine: this.d.repos.dialect, size_bytes: size },
      users: counts.users,
      rooms: counts.rooms,
      events: counts.events,
      local_media: { files: counts.localMediaFiles, bytes: counts.localMediaBytes },
      registration: { mode: this.d.config.registration.mode, ...(notice ? { token_notice: notice } : {}) },
    };
  }
}
