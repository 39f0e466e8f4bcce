// The admin console's overview: the server's figures, their trends (charts.tsx) and its federation destinations.
import { arr, num, obj, str } from "../../api.ts";
import { formatBytes } from "../../format.ts";
import { useClient } from "../common.tsx";
import { Trends } from "./charts.tsx";
import { A1, A2, DataTable, Loaded, optional, Stat, useLoad, when, formatDuration } from "./common.tsx";

export function Overview() {
  const client = useClient();
  const [state] = useLoad(async () => {
    const api = client.api;
    const [version, users, rooms, media, destinations, versions, server] = await Promise.all([
      optional(api.get(`${A1}/server_version`)),
      optional(api.get(`${A2}/users`, { limit: 1, guests: false })),
      optional(api.get(`${A1}/rooms`, { limit: 1 })),
      optional(api.get(`${A1}/statistics/users/media`, { limit: 500 })),
      optional(api.get(`${A1}/federation/destinations`, { limit: 100 })),
      api.get("/_matrix/client/versions", undefined),
      // hs's own overview (uptime, database); other servers do not have it.
      optional(api.get("/_hs/admin/v1/server")),
    ]);
    return { version, users, rooms, media, destinations, versions, server };
  }, []);
  return (
    <Loaded state={state}>
      {(d) => {
        const local = d.server ? obj(d.server.local_media) : undefined;
        const mediaBytes = local ? num(local.bytes) : d.media ? arr(d.media.users).reduce<number>((a, u) => a + (num(obj(u).media_length) ?? 0), 0) : undefined;
        const mediaCount = local ? num(local.files) : d.media ? arr(d.media.users).reduce<number>((a, u) => a + (num(obj(u).media_count) ?? 0), 0) : undefined;
        const db = d.server ? obj(d.server.database) : undefined;
        const uptime = d.server ? num(d.server.uptime_seconds) : undefined;
        const dests = d.destinations ? arr(d.destinations.destinations).map(obj) : undefined;
        const specVersions = arr(d.versions.versions).map(String);
        return (
          <>
            <div class="stats">
              <Stat label="Server version" value={d.version ? (str(d.version.server_version) ?? "?") : "n/a"} />
              <Stat label="Users" value={d.users ? (num(d.users.total) ?? arr(d.users.users).length) : "n/a"} />
              <Stat label="Rooms" value={d.rooms ? (num(d.rooms.total_rooms) ?? arr(d.rooms.rooms).length) : "n/a"} />
              <Stat label="Media" value={mediaBytes !== undefined ? `${formatBytes(mediaBytes)} · ${mediaCount} files` : "n/a"} />
              <Stat label="Federation destinations" value={dests ? dests.length : "n/a"} />
              <Stat label="Uptime" value={uptime !== undefined ? formatDuration(uptime) : "n/a"} />
              <Stat label="Events" value={d.server ? (num(d.server.events) ?? "?") : "n/a"} />
              <Stat label="Database" value={db ? `${str(db.engine) === "postgres" ? "PostgreSQL" : "SQLite"} · ${formatBytes(num(db.size_bytes) ?? 0)}` : "n/a"} />
              <Stat label="Matrix spec" value={specVersions[specVersions.length - 1] ?? "?"} />
            </div>
            <p class="muted small">
              Server: <strong>{location.host}</strong> · signed in as {client.userId}.
              {[d.version, d.users, d.rooms, d.destinations, d.server].some((x) => x === undefined) && " Figures marked n/a come from admin API endpoints this server does not offer."}
            </p>
            <Trends />
            {dests && (
              <section class="card">
                <h2>Federation</h2>
                {dests.length === 0 ? (
                  <p class="muted">This server has not talked to other servers yet.</p>
                ) : (
                  <DataTable
                    label="Federation destinations"
                    rows={dests}
                    rowKey={(x) => str(x.destination) ?? ""}
                    columns={[
                      { label: "Server", cell: (x) => str(x.destination) },
                      {
                        label: "Status",
                        cell: (x) => {
                          const failing = (num(x.failure_ts) ?? 0) > 0;
                          return <span class={`pill ${failing ? "bad" : "good"}`}>{failing ? "failing" : "healthy"}</span>;
                        },
                      },
                      { label: "Failing since", cell: (x) => when(x.failure_ts) },
                      { label: "Retrying", cell: (x) => (num(x.retry_interval) ? `every ${Math.round(num(x.retry_interval)! / 1000)} s` : "—") },
                    ]}
                  />
                )}
              </section>
            )}
          </>
        );
      }}
    </Loaded>
  );
}
