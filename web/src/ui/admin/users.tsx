// The admin console's users: search, create, reset a password, make admin, deactivate.
import { useEffect, useState } from "preact/hooks";
import { arr, MatrixApiError, num, obj, str } from "../../api.ts";
import { localpart } from "../../format.ts";
import { ask, AsyncForm, attempt, Dialog, Field, Icon, toast, useClient, val } from "../common.tsx";
import { A1, A2, DataTable, enc, Loaded, optional, plural, SearchField, serverName, useLoad, when } from "./common.tsx";

interface AdminUser {
  name: string;
  displayname?: string;
  admin: boolean;
  deactivated: boolean;
  creation_ts?: number;
}

export function Users() {
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
            <DataTable
              label="Users"
              rows={d.users}
              rowKey={(u) => u.name}
              columns={[
                {
                  label: "User",
                  cell: (u) => (
                    <>
                      <strong>{u.displayname ?? localpart(u.name)}</strong>
                      <br />
                      <span class="muted small">{u.name}</span>
                    </>
                  ),
                },
                { label: "Created", class: "small", cell: (u) => when(u.creation_ts && u.creation_ts < 1e12 ? u.creation_ts * 1000 : u.creation_ts) },
                { label: "Status", cell: (u) => (u.deactivated ? <span class="pill bad">deactivated</span> : u.admin ? <span class="pill accent">admin</span> : <span class="pill">user</span>) },
                {
                  label: "Actions",
                  actions: true,
                  cell: (u) =>
                    !u.deactivated && (
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
                    ),
                },
              ]}
            />
          </>
        )}
      </Loaded>
      {creating && <CreateUser onClose={() => setCreating(false)} onDone={reload} />}
      {resetFor && <ResetPassword userId={resetFor} onClose={() => setResetFor(null)} />}
    </section>
  );
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
