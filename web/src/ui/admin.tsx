// The admin console for server admins, built only on the Synapse-compatible admin API (the same
// endpoints scripts and synadm use): overview, users, registration tokens, rooms, media, reports.
// Parts of the API this server does not offer yet say so instead of failing.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { arr, MatrixApiError, num, obj, str, type JsonObject } from "../api.ts";
import { formatBytes, localpart } from "../format.ts";
import { ask, AsyncForm, attempt, Dialog, errorText, Field, Icon, IconButton, navigate, Spinner, toast, useClient, val } from "./common.tsx";

const A1 = "/_synapse/admin/v1";
const A2 = "/_synapse/admin/v2";
const enc = encodeURIComponent;

const TABS = [
  ["overview", "Overview", "chat"],
  ["users", "Users", "users"],
  ["tokens", "Registration tokens", "lock"],
  ["rooms", "Rooms", "hash"],
  ["media", "Media", "image"],
  ["reports", "Reports", "flag"],
] as const;

type Load<T> = { data?: T; error?: string; unsupported?: boolean; loading: boolean };

function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): [Load<T>, () => void] {
  const [state, setState] = useState<Load<T>>({ loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, loading: false }),
      (e: unknown) => live && setState({ loading: false, error: errorText(e), unsupported: e instanceof MatrixApiError && e.unsupported }),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return [state, () => setN((x) => x + 1)];
}

function Loaded<T>({ state, children }: { state: Load<T>; children: (d: T) => ComponentChildren }) {
  if (state.unsupported) return <p class="unavailable">Not available: this server does not offer this admin API yet.</p>;
  if (state.error) return <p class="form-error">{state.error}</p>;
  if (state.data === undefined) return <Spinner />;
  return <>{children(state.data)}</>;
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
const when = (ts: unknown) => (typeof ts === "number" && ts > 0 ? new Date(ts).toLocaleString() : "—");

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

/** The toolbar's search box of a list. */
function SearchField({ label, value, onInput }: { label: string; value: string; onInput: (v: string) => void }) {
  return (
    <label class="search">
      <Icon name="search" size={16} />
      <input type="search" aria-label={label} placeholder={label} value={value} onInput={(e) => onInput(val(e))} />
    </label>
  );
}

/** 3 d 4 h, 5 h 6 min, 7 min, 8 s. */
function formatDuration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min`;
  return `${seconds} s`;
}

function Stat({ label, value }: { label: string; value: ComponentChildren }) {
  return (
    <div class="stat">
      <span class="stat-value">{value}</span>
      <span class="stat-label">{label}</span>
    </div>
  );
}

/** A number from an admin endpoint, or "n/a" when the endpoint is missing. */
async function optional<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof MatrixApiError && (e.unsupported || e.status === 404)) return undefined;
    throw e;
  }
}

function Overview() {
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
            {dests && (
              <section class="card">
                <h2>Federation</h2>
                {dests.length === 0 ? (
                  <p class="muted">This server has not talked to other servers yet.</p>
                ) : (
                  <table class="table">
                    <thead>
                      <tr>
                        <th>Server</th>
                        <th>Status</th>
                        <th>Failing since</th>
                        <th>Retrying</th>
                      </tr>
                    </thead>
                    <tbody>
                      {dests.map((x) => {
                        const failing = (num(x.failure_ts) ?? 0) > 0;
                        return (
                          <tr key={str(x.destination)}>
                            <td>{str(x.destination)}</td>
                            <td>
                              <span class={`pill ${failing ? "bad" : "good"}`}>{failing ? "failing" : "healthy"}</span>
                            </td>
                            <td>{when(x.failure_ts)}</td>
                            <td>{num(x.retry_interval) ? `every ${Math.round(num(x.retry_interval)! / 1000)} s` : "—"}</td>
                          </tr>
                        );
                      })}
                    </tbody>
                  </table>
                )}
              </section>
            )}
          </>
        );
      }}
    </Loaded>
  );
}

interface AdminUser {
  name: string;
  displayname?: string;
  admin: boolean;
  deactivated: boolean;
  creation_ts?: number;
}

function Users() {
  const client = useClient();
  const [search, setSearch] = useState("");
  const [q, setQ] = useState("");
  const [creating, setCreating] = useState(false);
  const [resetFor, setResetFor] = useState<string | null>(null);
  useEffect(() => {
    const t = setTimeout(() => setQ(search), 300);
    return () => clearTimeout(t);
  }, [search]);
  const [state, reload] = useLoad(async () => {
    const r = await client.api.get(`${A2}/users`, { from: 0, limit: 100, guests: false, deactivated: true, ...(q ? { name: q } : {}) });
    return {
      total: num(r.total),
      users: arr(r.users).map((u) => {
        const o = obj(u);
        return { name: str(o.name) ?? "", displayname: str(o.displayname), admin: o.admin === true || o.admin === 1, deactivated: o.deactivated === true || o.deactivated === 1, creation_ts: num(o.creation_ts) } as AdminUser;
      }),
    };
  }, [q]);

  const setAdmin = (u: AdminUser, admin: boolean) =>
    attempt(async () => {
      try {
        await client.api.put(`${A1}/users/${enc(u.name)}/admin`, { admin });
      } catch (e) {
        if (!(e instanceof MatrixApiError && e.unsupported)) throw e;
        await client.api.put(`${A2}/users/${enc(u.name)}`, { admin });
      }
      reload();
    }, admin ? `${u.name} is now a server admin` : `${u.name} is no longer a server admin`);

  const deactivate = (u: AdminUser) =>
    void ask({ title: "Deactivate user", text: `Deactivate ${u.name}? They are signed out everywhere and cannot sign in again.`, confirm: "Deactivate", danger: true }).then((ok) => ok && attempt(async () => {
      await client.api.post(`${A1}/deactivate/${enc(u.name)}`, { erase: false });
      reload();
    }, `${u.name} was deactivated`));

  return (
    <section>
      <div class="toolbar">
        <SearchField label="Search users" value={search} onInput={setSearch} />
        <button type="button" class="btn primary" onClick={() => setCreating(true)}>
          <Icon name="plus" size={16} /> New user
        </button>
      </div>
      <Loaded state={state}>
        {(d) => (
          <>
            <p class="muted small">{plural(d.total ?? d.users.length, "user")}</p>
            <table class="table">
              <thead>
                <tr>
                  <th>User</th>
                  <th>Created</th>
                  <th>Status</th>
                  <th>
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {d.users.map((u) => (
                  <tr key={u.name}>
                    <td>
                      <strong>{u.displayname ?? localpart(u.name)}</strong>
                      <br />
                      <span class="muted small">{u.name}</span>
                    </td>
                    <td class="small">{when(u.creation_ts && u.creation_ts < 1e12 ? u.creation_ts * 1000 : u.creation_ts)}</td>
                    <td>
                      {u.deactivated ? <span class="pill bad">deactivated</span> : u.admin ? <span class="pill accent">admin</span> : <span class="pill">user</span>}
                    </td>
                    <td class="actions">
                      {!u.deactivated && (
                        <>
                          <button type="button" class="btn small" onClick={() => setResetFor(u.name)}>
                            Reset password
                          </button>
                          {u.name !== client.userId && (
                            <button type="button" class="btn small" onClick={() => void setAdmin(u, !u.admin)}>
                              {u.admin ? "Remove admin" : "Make admin"}
                            </button>
                          )}
                          {u.name !== client.userId && (
                            <button type="button" class="btn small danger" onClick={() => void deactivate(u)}>
                              Deactivate
                            </button>
                          )}
                        </>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </Loaded>
      {creating && <CreateUser onClose={() => setCreating(false)} onDone={reload} />}
      {resetFor && <ResetPassword userId={resetFor} onClose={() => setResetFor(null)} />}
    </section>
  );
}

function serverName(userId: string): string {
  return userId.slice(userId.indexOf(":") + 1);
}

function CreateUser({ onClose, onDone }: { onClose: () => void; onDone: () => void }) {
  const client = useClient();
  const [name, setName] = useState("");
  const [display, setDisplay] = useState("");
  const [password, setPassword] = useState("");
  const [admin, setAdmin] = useState(false);
  return (
    <Dialog title="New user" onClose={onClose}>
      <AsyncForm
        submitLabel="Create user"
        busyLabel="Creating…"
        onSubmit={async () => {
          const local = name.trim().replace(/^@/, "").replace(/:.*$/, "");
          if (!/^[a-z0-9._=\-/+]+$/.test(local)) throw new Error("User names may use lower-case letters, digits and . _ = - / +");
          if (password.length < 8) throw new Error("Choose a password of at least 8 characters.");
          const userId = `@${local}:${serverName(client.userId)}`;
          await client.api.put(`${A2}/users/${enc(userId)}`, { password, admin, ...(display.trim() ? { displayname: display.trim() } : {}) });
          toast(`${userId} created`);
          onDone();
          onClose();
        }}
      >
        <Field label="User name" hint={`The user ID will be @name:${serverName(client.userId)}`}>
          <input required value={name} onInput={(e) => setName(val(e).toLowerCase())} autocapitalize="none" spellcheck={false} />
        </Field>
        <Field label="Display name (optional)">
          <input value={display} onInput={(e) => setDisplay(val(e))} />
        </Field>
        <Field label="Password">
          <input type="password" autocomplete="new-password" required value={password} onInput={(e) => setPassword(val(e))} />
        </Field>
        <label class="check">
          <input type="checkbox" checked={admin} onChange={(e) => setAdmin((e.currentTarget as HTMLInputElement).checked)} /> <span>Server admin</span>
        </label>
      </AsyncForm>
    </Dialog>
  );
}

function ResetPassword({ userId, onClose }: { userId: string; onClose: () => void }) {
  const client = useClient();
  const [password, setPassword] = useState("");
  const [logout, setLogout] = useState(true);
  return (
    <Dialog title={`Reset password of ${userId}`} onClose={onClose}>
      <AsyncForm
        submitLabel="Set password"
        busyLabel="Saving…"
        onSubmit={async () => {
          if (password.length < 8) throw new Error("Choose a password of at least 8 characters.");
          await client.api.post(`${A1}/reset_password/${enc(userId)}`, { new_password: password, logout_devices: logout });
          toast("Password reset");
          onClose();
        }}
      >
        <Field label="New password">
          <input type="password" autocomplete="new-password" required value={password} onInput={(e) => setPassword(val(e))} />
        </Field>
        <label class="check">
          <input type="checkbox" checked={logout} onChange={(e) => setLogout((e.currentTarget as HTMLInputElement).checked)} /> <span>Sign them out everywhere</span>
        </label>
      </AsyncForm>
    </Dialog>
  );
}

function Tokens() {
  const client = useClient();
  const [uses, setUses] = useState("1");
  const [days, setDays] = useState("7");
  const [state, reload] = useLoad(async () => arr((await client.api.get(`${A1}/registration_tokens`)).registration_tokens).map(obj), []);
  // hs says whether tokens can be used ([registration] mode); other servers do not, and nothing is shown.
  const [server] = useLoad(async () => optional(client.api.get("/_hs/admin/v1/server")), []);
  const registration = server.data ? obj(server.data.registration) : undefined;
  const notice = registration ? str(registration.token_notice) : undefined;
  const link = (token: string) => `${location.origin}/?token=${encodeURIComponent(token)}#register`;
  return (
    <section>
      {notice && (
        <p class="notice" role="status" data-testid="token-notice">
          <Icon name="alert" size={14} /> {notice}
        </p>
      )}
      <section class="card">
        <h2>New registration token</h2>
        <p class="muted">People sign up with a token when the server's registration is token-only ([registration] mode = "token"). Share the token or the sign-up link.</p>
        <AsyncForm
          class="inline"
          submitLabel="Create token"
          busyLabel="Creating…"
          onSubmit={async () => {
            const body: JsonObject = {};
            if (uses.trim()) body.uses_allowed = Number(uses);
            if (days.trim()) body.expiry_time = Date.now() + Number(days) * 86400000;
            const r = await client.api.post(`${A1}/registration_tokens/new`, body);
            toast(notice ? `Token ${str(r.token)} created, but it cannot be used yet: see the note above` : `Token ${str(r.token)} created`);
            reload();
          }}
        >
          <Field label="Uses allowed" hint="Empty: unlimited">
            <input name="uses_allowed" type="number" min="1" value={uses} onInput={(e) => setUses(val(e))} />
          </Field>
          <Field label="Valid for (days)" hint="Empty: never expires">
            <input name="expiry_days" type="number" min="1" value={days} onInput={(e) => setDays(val(e))} />
          </Field>
        </AsyncForm>
      </section>
      <Loaded state={state}>
        {(tokens) =>
          tokens.length === 0 ? (
            <p class="muted">No registration tokens.</p>
          ) : (
            <table class="table tokens">
              <thead>
                <tr>
                  <th>Token</th>
                  <th>Used</th>
                  <th>Expires</th>
                  <th>
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {tokens.map((t) => {
                  const token = str(t.token) ?? "";
                  const allowed = num(t.uses_allowed);
                  const expired = (num(t.expiry_time) ?? Infinity) < Date.now() || (allowed !== undefined && (num(t.completed) ?? 0) >= allowed);
                  return (
                    <tr key={token} class={expired ? "dim" : ""}>
                      <td>
                        <code class="token">{token}</code>
                        {expired && <span class="pill bad">used up or expired</span>}
                      </td>
                      <td>
                        {num(t.completed) ?? 0}
                        {allowed !== undefined ? ` / ${allowed}` : " / ∞"}
                        {(num(t.pending) ?? 0) > 0 ? ` (+${num(t.pending)} pending)` : ""}
                      </td>
                      <td class="small">{t.expiry_time ? when(t.expiry_time) : "never"}</td>
                      <td class="actions">
                        <button type="button" class="btn small" onClick={() => void navigator.clipboard?.writeText(link(token)).then(() => toast("Sign-up link copied"), () => toast(link(token)))}>
                          Copy link
                        </button>
                        <button type="button" class="btn small danger" onClick={() => void attempt(async () => {
                          await client.api.del(`${A1}/registration_tokens/${enc(token)}`);
                          reload();
                        }, "Token revoked")}>
                          Revoke
                        </button>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )
        }
      </Loaded>
    </section>
  );
}

function Rooms() {
  const client = useClient();
  const [search, setSearch] = useState("");
  const [q, setQ] = useState("");
  const [details, setDetails] = useState<string | null>(null);
  useEffect(() => {
    const t = setTimeout(() => setQ(search), 300);
    return () => clearTimeout(t);
  }, [search]);
  const [state, reload] = useLoad(async () => {
    const r = await client.api.get(`${A1}/rooms`, { limit: 100, order_by: "joined_members", dir: "b", ...(q ? { search_term: q } : {}) });
    return { total: num(r.total_rooms), rooms: arr(r.rooms).map(obj) };
  }, [q]);
  return (
    <section>
      <div class="toolbar">
        <SearchField label="Search rooms" value={search} onInput={setSearch} />
      </div>
      <Loaded state={state}>
        {(d) => (
          <>
            <p class="muted small">{plural(d.total ?? d.rooms.length, "room")}</p>
            <table class="table">
              <thead>
                <tr>
                  <th>Room</th>
                  <th>Members</th>
                  <th>Access</th>
                  <th>
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {d.rooms.map((r) => {
                  const id = str(r.room_id) ?? "";
                  return (
                    <tr key={id}>
                      <td>
                        <strong>{str(r.name) ?? str(r.canonical_alias) ?? "(unnamed)"}</strong>
                        <br />
                        <span class="muted small">{id}</span>
                      </td>
                      <td>
                        {num(r.joined_members) ?? 0}
                        {num(r.joined_local_members) !== undefined ? <span class="muted small"> ({num(r.joined_local_members)} local)</span> : null}
                      </td>
                      <td>
                        {r.public ? <span class="pill">public</span> : <span class="pill">{str(r.join_rules) ?? "private"}</span>} {r.encryption ? <span class="pill">encrypted</span> : null}
                      </td>
                      <td class="actions">
                        <button type="button" class="btn small" onClick={() => setDetails(id)}>
                          Details
                        </button>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </>
        )}
      </Loaded>
      {details && <RoomDetails roomId={details} onClose={() => setDetails(null)} onDeleted={reload} />}
    </section>
  );
}

function RoomDetails({ roomId, onClose, onDeleted }: { roomId: string; onClose: () => void; onDeleted: () => void }) {
  const client = useClient();
  const [state] = useLoad(async () => {
    const [info, members] = await Promise.all([client.api.get(`${A1}/rooms/${enc(roomId)}`), optional(client.api.get(`${A1}/rooms/${enc(roomId)}/members`))]);
    return { info, members: members ? arr(members.members).map(String) : [] };
  }, [roomId]);
  const [block, setBlock] = useState(false);
  const [message, setMessage] = useState("");
  return (
    <Dialog title="Room details" onClose={onClose} wide focusFirst={false}>
      <Loaded state={state}>
        {({ info, members }) => (
          <>
            <dl class="details">
              {[
                ["Name", str(info.name)],
                ["Room ID", roomId],
                ["Address", str(info.canonical_alias)],
                ["Topic", str(info.topic)],
                ["Creator", str(info.creator)],
                ["Version", str(info.version)],
                ["Joined members", String(num(info.joined_members) ?? members.length)],
                ["State events", String(num(info.state_events) ?? "—")],
                ["Join rule", str(info.join_rules)],
                ["History visibility", str(info.history_visibility)],
                ["Encryption", str(info.encryption) ?? "off"],
              ]
                .filter(([, v]) => v)
                .map(([k, v]) => (
                  <div key={k}>
                    <dt>{k}</dt>
                    <dd>{v}</dd>
                  </div>
                ))}
            </dl>
            {members.length > 0 && (
              <>
                <h3 class="section-title">Members</h3>
                <p class="small">{members.join(", ")}</p>
              </>
            )}
          </>
        )}
      </Loaded>
      <h3 class="section-title danger-text">Delete room</h3>
      <AsyncForm
        danger
        submitLabel="Delete and purge room"
        busyLabel="Deleting…"
        onSubmit={async () => {
          if (!(await ask({ title: "Delete room", text: "Delete this room for everyone on this server and purge its history? This cannot be undone.", confirm: "Delete room", danger: true }))) return;
          const body = { block, purge: true, ...(message.trim() ? { message: message.trim() } : {}) };
          try {
            await client.api.del(`${A2}/rooms/${enc(roomId)}`, body);
          } catch (e) {
            if (!(e instanceof MatrixApiError && e.unsupported)) throw e;
            await client.api.del(`${A1}/rooms/${enc(roomId)}`, body);
          }
          toast("Room deletion started");
          onDeleted();
          onClose();
        }}
      >
        <p class="muted small">Everyone is removed from the room and its history is purged from this server.</p>
        <Field label="Message to members (optional)">
          <input value={message} onInput={(e) => setMessage(val(e))} />
        </Field>
        <label class="check">
          <input type="checkbox" checked={block} onChange={(e) => setBlock((e.currentTarget as HTMLInputElement).checked)} /> <span>Block the room so nobody can join it again</span>
        </label>
      </AsyncForm>
    </Dialog>
  );
}

function Media() {
  const client = useClient();
  const [state, reload] = useLoad(async () => {
    const r = await client.api.get(`${A1}/statistics/users/media`, { limit: 100, order_by: "media_length", dir: "b" });
    return arr(r.users).map(obj);
  }, []);
  const [days, setDays] = useState("90");
  return (
    <section>
      <section class="card">
        <h2>Delete old media</h2>
        <p class="muted">Deletes media uploaded to this server before the given age (files still in use disappear from messages).</p>
        <AsyncForm
          class="inline"
          danger
          submitLabel="Delete old media"
          busyLabel="Deleting…"
          onSubmit={async () => {
            const ageDays = Number(days);
            if (!(ageDays > 0)) throw new Error("Enter a number of days");
            if (!(await ask({ title: "Delete old media", text: `Delete all media uploaded here more than ${ageDays} days ago? This cannot be undone.`, confirm: "Delete", danger: true }))) return;
            const server = serverName(client.userId);
            const r = await client.api.post(`${A1}/media/${enc(server)}/delete`, {}, { before_ts: Date.now() - ageDays * 86400000 });
            toast(`${num(r.total) ?? arr(r.deleted_media).length} files deleted`);
            reload();
          }}
        >
          <Field label="Older than (days)">
            <input type="number" min="1" value={days} onInput={(e) => setDays(val(e))} />
          </Field>
        </AsyncForm>
      </section>
      <h3 class="section-title">Usage by user</h3>
      <Loaded state={state}>
        {(users) =>
          users.length === 0 ? (
            <p class="muted">Nobody has uploaded media yet.</p>
          ) : (
            <table class="table">
              <thead>
                <tr>
                  <th>User</th>
                  <th>Files</th>
                  <th>Size</th>
                  <th>
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {users.map((u) => {
                  const id = str(u.user_id) ?? "";
                  return (
                    <tr key={id}>
                      <td>
                        {str(u.displayname) ?? localpart(id)}
                        <br />
                        <span class="muted small">{id}</span>
                      </td>
                      <td>{num(u.media_count) ?? 0}</td>
                      <td>{formatBytes(num(u.media_length) ?? 0)}</td>
                      <td class="actions">
                        <button type="button" class="btn small danger" onClick={() => void ask({ title: "Delete media", text: `Delete all media uploaded by ${id}? This cannot be undone.`, confirm: "Delete", danger: true }).then((ok) => ok && attempt(async () => {
                          await client.api.del(`${A1}/users/${enc(id)}/media`);
                          reload();
                        }, "Media deleted"))}>
                          Delete their media
                        </button>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )
        }
      </Loaded>
    </section>
  );
}

function Reports() {
  const client = useClient();
  const [state, reload] = useLoad(async () => arr((await client.api.get(`${A1}/event_reports`, { limit: 100, dir: "b" })).event_reports).map(obj), []);
  return (
    <section>
      <Loaded state={state}>
        {(reports) =>
          reports.length === 0 ? (
            <p class="muted">No reported messages. Members report messages from the message menu.</p>
          ) : (
            <table class="table">
              <thead>
                <tr>
                  <th>Reported</th>
                  <th>Room</th>
                  <th>By</th>
                  <th>Sender</th>
                  <th>Reason</th>
                  <th>
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {reports.map((r) => {
                  const id = String(r.id ?? "");
                  return (
                    <tr key={id}>
                      <td class="small">{when(r.received_ts)}</td>
                      <td>
                        {str(r.name) ?? str(r.canonical_alias) ?? ""}
                        <br />
                        <span class="muted small">{str(r.room_id)}</span>
                      </td>
                      <td class="small">{str(r.user_id)}</td>
                      <td class="small">{str(r.sender)}</td>
                      <td>{str(r.reason) ?? <span class="muted">no reason given</span>}</td>
                      <td class="actions">
                        <button type="button" class="btn small" onClick={() => void attempt(async () => {
                          await client.api.del(`${A1}/event_reports/${enc(id)}`);
                          reload();
                        }, "Report dismissed")}>
                          Dismiss
                        </button>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )
        }
      </Loaded>
    </section>
  );
}
