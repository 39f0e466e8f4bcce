// The admin console for server admins, built on the Synapse-compatible admin API (the same
// endpoints scripts and synadm use) plus hs's own /_hs/admin/v1/server endpoints (overview, trends,
// risky settings: "not available" on other servers): one file per page (admin/*.tsx), one table
// component, the charts and the risky-settings banner in charts.tsx. The console is a chunk of its
// own, loaded when an admin opens it.
import { Icon, IconButton, navigate, useClient } from "../common.tsx";
import { RiskBanner } from "./charts.tsx";
import { Media } from "./media.tsx";
import { Overview } from "./overview.tsx";
import { Reports } from "./reports.tsx";
import { Rooms } from "./rooms.tsx";
import { Tokens } from "./tokens.tsx";
import { Users } from "./users.tsx";

const TABS = [
  ["overview", "Overview", "chat"],
  ["users", "Users", "users"],
  ["tokens", "Registration tokens", "lock"],
  ["rooms", "Rooms", "hash"],
  ["media", "Media", "image"],
  ["reports", "Reports", "flag"],
] as const;

export function AdminConsole({ tab }: { tab: string }) {
  const client = useClient();
  const current = TABS.find((t) => t[0] === tab)?.[0] ?? "overview";
  if (!client.isAdmin) {
    return (
      <main class="page">
        <header class="page-head">
          <IconButton icon="back" label="Back to chats" onClick={() => navigate("/")} />
          <h1>Admin console</h1>
        </header>
        <div class="page-body">
          <p>Only server administrators can use the admin console.</p>
        </div>
      </main>
    );
  }
  return (
    <main class="page admin" aria-label="Admin console">
      <header class="page-head">
        <IconButton icon="back" label="Back to chats" onClick={() => navigate("/")} />
        <h1>
          <Icon name="shield" /> Admin console
        </h1>
      </header>
      <nav class="admin-tabs" aria-label="Admin sections">
        {TABS.map(([id, label, icon]) => (
          <a
            key={id}
            href={`/admin/${id}`}
            class={id === current ? "active" : ""}
            aria-current={id === current ? "page" : undefined}
            onClick={(e) => {
              e.preventDefault();
              navigate(`/admin/${id}`);
            }}
          >
            <Icon name={icon} size={16} /> {label}
          </a>
        ))}
      </nav>
      <div class="page-body">
        <RiskBanner />
        {current === "overview" && <Overview />}
        {current === "users" && <Users />}
        {current === "tokens" && <Tokens />}
        {current === "rooms" && <Rooms />}
        {current === "media" && <Media />}
        {current === "reports" && <Reports />}
      </div>
    </main>
  );
}
