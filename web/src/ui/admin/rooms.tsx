// The admin console's rooms: search, details (members, state), delete and purge.
import { useEffect, useState } from "preact/hooks";
import { arr, MatrixApiError, num, obj, str } from "../../api.ts";
import { ask, AsyncForm, Dialog, Field, toast, useClient, val } from "../common.tsx";
import { A1, A2, DataTable, enc, Loaded, optional, plural, SearchField, useLoad } from "./common.tsx";

export function Rooms() {
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
            <DataTable
              label="Rooms"
              rows={d.rooms}
              rowKey={(r) => str(r.room_id) ?? ""}
              columns={[
                {
                  label: "Room",
                  cell: (r) => (
                    <>
                      <strong>{str(r.name) ?? str(r.canonical_alias) ?? "(unnamed)"}</strong>
                      <br />
                      <span class="muted small">{str(r.room_id)}</span>
                    </>
                  ),
                },
                {
                  label: "Members",
                  cell: (r) => (
                    <>
                      {num(r.joined_members) ?? 0}
                      {num(r.joined_local_members) !== undefined ? <span class="muted small"> ({num(r.joined_local_members)} local)</span> : null}
                    </>
                  ),
                },
                {
                  label: "Access",
                  cell: (r) => (
                    <>
                      {r.public ? <span class="pill">public</span> : <span class="pill">{str(r.join_rules) ?? "private"}</span>} {r.encryption ? <span class="pill">encrypted</span> : null}
                    </>
                  ),
                },
                {
                  label: "Actions",
                  actions: true,
                  cell: (r) => (
                    <button type="button" class="btn small" onClick={() => setDetails(str(r.room_id) ?? "")}>
                      Details
                    </button>
                  ),
                },
              ]}
            />
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
