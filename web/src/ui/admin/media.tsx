// The admin console's media: usage by user, deleting a user's media or old media.
import { useState } from "preact/hooks";
import { arr, num, obj, str } from "../../api.ts";
import { formatBytes, localpart } from "../../format.ts";
import { ask, AsyncForm, attempt, Field, toast, useClient, val } from "../common.tsx";
import { A1, DataTable, enc, Loaded, serverName, useLoad } from "./common.tsx";

export function Media() {
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
            <DataTable
              label="Media usage by user"
              rows={users}
              rowKey={(u) => str(u.user_id) ?? ""}
              columns={[
                {
                  label: "User",
                  cell: (u) => (
                    <>
                      {str(u.displayname) ?? localpart(str(u.user_id) ?? "")}
                      <br />
                      <span class="muted small">{str(u.user_id)}</span>
                    </>
                  ),
                },
                { label: "Files", cell: (u) => num(u.media_count) ?? 0 },
                { label: "Size", cell: (u) => formatBytes(num(u.media_length) ?? 0) },
                {
                  label: "Actions",
                  actions: true,
                  cell: (u) => {
                    const id = str(u.user_id) ?? "";
                    return (
                      <button type="button" class="btn small danger" onClick={() => void ask({ title: "Delete media", text: `Delete all media uploaded by ${id}? This cannot be undone.`, confirm: "Delete", danger: true }).then((ok) => ok && attempt(async () => {
                        await client.api.del(`${A1}/users/${enc(id)}/media`);
                        reload();
                      }, "Media deleted"))}>
                        Delete their media
                      </button>
                    );
                  },
                },
              ]}
            />
          )
        }
      </Loaded>
    </section>
  );
}
