// Dialogs: create a room, explore the public directory or join by address, start a direct chat,
// room settings (name, topic, picture, who can join, leave).
import { useEffect, useState } from "preact/hooks";
import { arr, MatrixApiError, num, obj, str } from "../api.ts";
import { AsyncForm, attempt, Avatar, Dialog, errorText, Field, Icon, navigate, Spinner, useClient, val } from "./common.tsx";
import { resolveUser, UserPicker } from "./user-picker.tsx";

const userIdOk = (s: string) => /^@[^:\s]+:[^\s]+$/.test(s);

export function CreateRoomDialog({ onClose }: { onClose: () => void }) {
  const client = useClient();
  const [name, setName] = useState("");
  const [topic, setTopic] = useState("");
  const [isPublic, setPublic] = useState(false);
  const [encrypted, setEncrypted] = useState(false);
  const [invite, setInvite] = useState("");
  const [alias, setAlias] = useState("");
  const server = client.userId.slice(client.userId.indexOf(":") + 1);
  return (
    <Dialog title="Create a room" onClose={onClose}>
      <AsyncForm
        submitLabel="Create room"
        busyLabel="Creating…"
        onSubmit={async () => {
          const invites = invite.split(/[\s,]+/).filter(Boolean);
          const bad = invites.find((u) => !userIdOk(u));
          if (bad) throw new Error(`“${bad}” is not a user ID (like @alice:${client.serverName})`);
          const a = alias.trim().replace(/^#/, "").replace(/:.*$/, "");
          if (isPublic && a && !/^[a-z0-9._=\-/]+$/i.test(a)) throw new Error("An address may use letters, digits and . _ = - /");
          const id = await client.createRoom({ name: name.trim(), topic: topic.trim(), isPublic, encrypted: encrypted && !isPublic, invite: invites, alias: isPublic && a ? a : undefined });
          onClose();
          navigate(`/room/${encodeURIComponent(id)}`);
        }}
      >
        <Field label="Name">
          <input name="name" required value={name} onInput={(e) => setName(val(e))} placeholder="Family" />
        </Field>
        <Field label="Topic (optional)">
          <input name="topic" value={topic} onInput={(e) => setTopic(val(e))} placeholder="What is this room about?" />
        </Field>
        <fieldset class="choice">
          <legend>Who can join</legend>
          <label>
            <input type="radio" name="visibility" checked={!isPublic} onChange={() => setPublic(false)} />
            <span>
              <strong>Private</strong> — only people you invite
            </span>
          </label>
          <label>
            <input type="radio" name="visibility" checked={isPublic} onChange={() => setPublic(true)} />
            <span>
              <strong>Public</strong> — anyone on the server can find and join it
            </span>
          </label>
        </fieldset>
        {isPublic && (
          <Field label="Address (optional)" hint={`People can join with #${alias.trim().replace(/^#/, "") || "name"}:${server}`}>
            <input name="alias" value={alias} onInput={(e) => setAlias(val(e))} placeholder="bookclub" autocapitalize="none" spellcheck={false} />
          </Field>
        )}
        {!isPublic && (
          <label class="check">
            <input type="checkbox" checked={encrypted} onChange={(e) => setEncrypted((e.currentTarget as HTMLInputElement).checked)} />
            <span>
              End-to-end encrypted
              <span class="field-hint">Only members' devices can read the messages. Cannot be turned off later.</span>
            </span>
          </label>
        )}
        <Field label="Invite (optional)" hint={`User IDs separated by spaces, like @bob:${client.serverName}`}>
          <input name="invite" value={invite} onInput={(e) => setInvite(val(e))} autocapitalize="none" spellcheck={false} />
        </Field>
      </AsyncForm>
    </Dialog>
  );
}

export function StartDmDialog({ onClose }: { onClose: () => void }) {
  const client = useClient();
  const [user, setUser] = useState("");
  return (
    <Dialog title="Start a direct chat" onClose={onClose}>
      <AsyncForm
        submitLabel="Start chat"
        busyLabel="Starting…"
        onSubmit={async () => {
          const id = await resolveUser(client, user);
          // Reuse an existing direct chat with them.
          for (const [roomId, other] of client.directRooms()) {
            if (other === id && client.rooms.get(roomId)?.membership === "join") {
              onClose();
              navigate(`/room/${encodeURIComponent(roomId)}`);
              return;
            }
          }
          const profile = await client.lookupProfile(id);
          if (!profile) throw new Error(`No user ${id} was found.`);
          const roomId = await client.createRoom({ name: "", topic: "", isPublic: false, encrypted: await client.canEncryptTo(id), invite: [id], direct: true });
          onClose();
          navigate(`/room/${encodeURIComponent(roomId)}`);
        }}
      >
        <Field label="User ID" hint={`A name from this server's directory, or a user ID like @alice:${client.serverName}`}>
          <UserPicker label="User ID" value={user} onInput={setUser} />
        </Field>
      </AsyncForm>
    </Dialog>
  );
}

interface PublicRoom {
  room_id: string;
  name?: string;
  topic?: string;
  canonical_alias?: string;
  num_joined_members: number;
  avatar_url?: string;
}

export function ExploreDialog({ onClose }: { onClose: () => void }) {
  const client = useClient();
  const [address, setAddress] = useState("");
  const [search, setSearch] = useState("");
  const [rooms, setRooms] = useState<PublicRoom[] | null>(null);
  const [error, setError] = useState("");

  useEffect(() => {
    let live = true;
    const t = setTimeout(async () => {
      try {
        const r = search
          ? await client.api.post("/_matrix/client/v3/publicRooms", { limit: 50, filter: { generic_search_term: search } })
          : await client.api.get("/_matrix/client/v3/publicRooms", { limit: 50 });
        if (!live) return;
        setRooms(
          arr(r.chunk).map((c) => {
            const o = obj(c);
            return { room_id: str(o.room_id) ?? "", name: str(o.name), topic: str(o.topic), canonical_alias: str(o.canonical_alias), num_joined_members: num(o.num_joined_members) ?? 0, avatar_url: str(o.avatar_url) };
          }),
        );
        setError("");
      } catch (e) {
        if (!live) return;
        setRooms([]);
        setError(e instanceof MatrixApiError && e.unsupported ? "The room directory is not available on this server yet." : errorText(e));
      }
    }, search ? 300 : 0);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [search]);

  const join = async (idOrAlias: string) => {
    const id = await client.join(idOrAlias);
    onClose();
    navigate(`/room/${encodeURIComponent(id)}`);
  };

  return (
    <Dialog title="Explore rooms" onClose={onClose} wide>
      <AsyncForm
        class="inline"
        submitLabel="Join"
        busyLabel="Joining…"
        onSubmit={async () => {
          const a = address.trim();
          if (!/^[#!][^:\s]+:\S+$/.test(a)) throw new Error(`Enter a room address like #family:${client.serverName} (or a room ID)`);
          await join(a);
        }}
      >
        <Field label="Join by address">
          <input name="address" value={address} onInput={(e) => setAddress(val(e))} placeholder="#room:server" autocapitalize="none" spellcheck={false} />
        </Field>
      </AsyncForm>
      <h3 class="section-title">Public rooms on this server</h3>
      <label class="search wide">
        <Icon name="search" size={16} />
        <input type="search" aria-label="Search public rooms" placeholder="Search" value={search} onInput={(e) => setSearch(val(e))} />
      </label>
      {rooms === null ? (
        <Spinner />
      ) : error ? (
        <p class="muted">{error}</p>
      ) : rooms.length === 0 ? (
        <p class="muted">No public rooms{search ? " match" : " yet"}.</p>
      ) : (
        <ul class="directory">
          {rooms.map((r) => {
            const joined = client.rooms.get(r.room_id)?.membership === "join";
            return (
              <li key={r.room_id}>
                <Avatar id={r.room_id} name={r.name ?? r.canonical_alias ?? r.room_id} mxc={r.avatar_url} size={40} />
                <span class="dir-text">
                  <strong>{r.name ?? r.canonical_alias ?? r.room_id}</strong>
                  <span class="muted small">
                    {r.canonical_alias ? `${r.canonical_alias} · ` : ""}
                    {r.num_joined_members} member{r.num_joined_members === 1 ? "" : "s"}
                  </span>
                  {r.topic && <span class="small">{r.topic}</span>}
                </span>
                {joined ? (
                  <button
                    type="button"
                    class="btn small"
                    onClick={() => {
                      onClose();
                      navigate(`/room/${encodeURIComponent(r.room_id)}`);
                    }}
                  >
                    View
                  </button>
                ) : (
                  <button type="button" class="btn primary small" onClick={() => void attempt(() => join(r.room_id))}>
                    Join
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </Dialog>
  );
}
