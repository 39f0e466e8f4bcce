// The room list: invites, direct messages and rooms with unread counts and highlights.
import { useEffect, useState } from "preact/hooks";
import { arr, num, obj, str } from "../api.ts";
import type { Room } from "../room.ts";
import { isRedacted } from "../room.ts";
import { shortDate } from "../format.ts";
import { attempt, Avatar, Icon, IconButton, navigate, useClient, val } from "./common.tsx";
import { plainBody } from "./timeline.tsx";

export type DialogName = "create" | "explore" | "dm" | null;

export function Sidebar({ currentRoom, openDialog, theme, toggleTheme }: { currentRoom?: string; openDialog: (d: DialogName) => void; theme: string; toggleTheme: () => void }) {
  const client = useClient();
  const [filter, setFilter] = useState("");
  const [spaceId, setSpaceId] = useState<string | null>(() => localStorage.getItem("hs.space"));
  const direct = client.directRooms();
  const all = client.sortedRooms();
  const spaces = all.filter((r) => r.isSpace && r.membership === "join");
  const space = spaces.find((r) => r.id === spaceId);
  const inSpace = space ? new Set(space.spaceChildren) : undefined;
  const chooseSpace = (id: string | null) => {
    setSpaceId(id);
    if (id) localStorage.setItem("hs.space", id);
    else localStorage.removeItem("hs.space");
  };
  const rooms = all.filter((r) => (!r.isSpace || r.membership === "invite") && (!inSpace || r.membership === "invite" || inSpace.has(r.id)) && (!filter || r.name.toLowerCase().includes(filter.toLowerCase())));
  const invites = rooms.filter((r) => r.membership === "invite");
  const dms = rooms.filter((r) => r.membership === "join" && direct.has(r.id));
  const groups = rooms.filter((r) => r.membership === "join" && !direct.has(r.id));
  const me = client.profile.displayname ?? client.userId;

  return (
    <nav class="sidebar" aria-label="Rooms">
      <header class="sidebar-head">
        <button type="button" class="me" onClick={() => navigate("/settings")} aria-label="Your profile and settings">
          <Avatar id={client.userId} name={me} mxc={client.profile.avatar_url} size={36} />
          <span class="me-text">
            <strong>{me}</strong>
            <span class="muted small">{client.userId}</span>
          </span>
        </button>
        <IconButton icon={theme === "dark" ? "sun" : "moon"} label={theme === "dark" ? "Switch to light theme" : "Switch to dark theme"} onClick={toggleTheme} />
        {client.isAdmin && <IconButton icon="shield" label="Admin console" onClick={() => navigate("/admin")} />}
      </header>
      <div class="sidebar-actions">
        <label class="search">
          <Icon name="search" size={16} />
          <input type="search" placeholder="Filter rooms" aria-label="Filter rooms" value={filter} onInput={(e) => setFilter(val(e))} />
        </label>
        <IconButton icon="compass" label="Explore and join rooms" onClick={() => openDialog("explore")} />
        <IconButton icon="plus" label="Create a room" onClick={() => openDialog("create")} />
      </div>
      {spaces.length > 0 && (
        <div class="spaces" role="toolbar" aria-label="Spaces">
          <button type="button" class={`space-btn ${!space ? "active" : ""}`} aria-pressed={!space} onClick={() => chooseSpace(null)} title="All rooms">
            <Icon name="chat" size={18} />
            <span class="visually-hidden">All rooms</span>
          </button>
          {spaces.map((sp) => (
            <button type="button" key={sp.id} class={`space-btn ${space?.id === sp.id ? "active" : ""}`} aria-pressed={space?.id === sp.id} onClick={() => chooseSpace(sp.id)} title={sp.name}>
              <Avatar id={sp.id} name={sp.name} mxc={sp.avatarUrl} size={32} />
              <span class="visually-hidden">{sp.name}</span>
              {sp.unread > 0 && <span class="dot" aria-hidden="true" />}
            </button>
          ))}
        </div>
      )}
      <div class="room-list">
        {space && <SpaceHome space={space} />}
        {!client.ready && <p class="muted pad">Loading your rooms…</p>}
        {invites.length > 0 && <RoomGroup title="Invites" rooms={invites} current={currentRoom} />}
        <RoomGroup title="People" rooms={dms} current={currentRoom} action={{ label: "Start a direct chat", onClick: () => openDialog("dm") }} empty="No direct chats yet" />
        <RoomGroup title="Rooms" rooms={groups} current={currentRoom} action={{ label: "Create a room", onClick: () => openDialog("create") }} empty={client.ready ? "No rooms yet" : undefined} />
      </div>
    </nav>
  );
}

/** A space's rooms that I have not joined (from the server's space hierarchy), to join from here. */
function SpaceHome({ space }: { space: Room }) {
  const client = useClient();
  const [children, setChildren] = useState<Array<{ id: string; name: string; topic?: string; members: number; joinRule?: string }> | null>(null);
  const known = space.spaceChildren.join(",");
  useEffect(() => {
    let live = true;
    void client.api
      .get(`/_matrix/client/v1/rooms/${encodeURIComponent(space.id)}/hierarchy`, { max_depth: 1, limit: 50 })
      .then(
        (r) =>
          live &&
          setChildren(
            arr(r.rooms)
              .map(obj)
              .filter((c) => str(c.room_id) !== space.id)
              .map((c) => ({ id: str(c.room_id) ?? "", name: str(c.name) ?? str(c.canonical_alias) ?? str(c.room_id) ?? "", topic: str(c.topic), members: num(c.num_joined_members) ?? 0, joinRule: str(c.join_rule) })),
          ),
        () => live && setChildren([]),
      );
    return () => {
      live = false;
    };
  }, [space.id, known]);
  const toJoin = (children ?? []).filter((c) => client.rooms.get(c.id)?.membership !== "join");
  return (
    <section class="room-group space-home" aria-label={`${space.name}: rooms to join`}>
      <h3>
        <span>{space.name}</span>
      </h3>
      {children === null ? (
        <p class="muted small pad-x">Loading the space's rooms…</p>
      ) : toJoin.length === 0 ? (
        <p class="muted small pad-x">You are in every room of this space.</p>
      ) : (
        <ul>
          {toJoin.map((c) => (
            <li key={c.id} class="space-child">
              <Avatar id={c.id} name={c.name} size={28} />
              <span class="room-item-text">
                <span class="room-name">{c.name}</span>
                <span class="muted small">
                  {c.members} member{c.members === 1 ? "" : "s"}
                  {c.topic ? ` · ${c.topic}` : ""}
                </span>
              </span>
              <button type="button" class="btn small" aria-label={`Join ${c.name}`} onClick={() => void attempt(async () => {
                const id = await client.join(c.id, [space.id.slice(space.id.indexOf(":") + 1)]);
                navigate(`/room/${encodeURIComponent(id)}`);
              }, `Joined ${c.name}`)}>
                Join
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function RoomGroup({ title, rooms, current, action, empty }: { title: string; rooms: Room[]; current?: string; action?: { label: string; onClick: () => void }; empty?: string }) {
  return (
    <section class="room-group" aria-label={title}>
      <h3>
        <span>{title}</span>
        {action && <IconButton icon="plus" label={action.label} onClick={action.onClick} size={16} class="small" />}
      </h3>
      {rooms.length === 0 && empty ? <p class="muted small pad-x">{empty}</p> : null}
      <ul>
        {rooms.map((r) => (
          <RoomItem key={r.id} room={r} active={r.id === current} />
        ))}
      </ul>
    </section>
  );
}

function RoomItem({ room, active }: { room: Room; active: boolean }) {
  const client = useClient();
  const last = room.lastMessage;
  let preview = "";
  if (room.membership === "invite") {
    const inviter = room.inviter;
    preview = inviter ? `Invited by ${room.displayName(inviter)}` : "Invitation";
  } else if (room.typing.length) {
    preview = `${room.displayName(room.typing[0]!)} is typing…`;
  } else if (last) {
    const who = last.sender === client.userId ? "You" : room.displayName(last.sender).split(" ")[0];
    // Plain text (no Markdown or HTML), as last edited; deleted when redacted.
    const { edits, redacted } = room.relations();
    const edit = edits.get(last.event_id);
    const shown = edit ? { ...last, content: obj(edit.content["m.new_content"]) } : last;
    const body = isRedacted(last) || redacted.has(last.event_id) ? "Message deleted" : last.type === "m.room.encrypted" ? "Encrypted message" : shown.content.msgtype === "m.image" ? "sent an image" : shown.content.msgtype === "m.file" ? "sent a file" : plainBody(shown);
    preview = `${who}: ${body}`;
  } else if (room.membership === "join") {
    preview = room.encrypted ? "Encrypted room" : "No messages yet";
  }
  // Threads count too (the room's own counts are the main timeline's).
  const { notifications: count, highlights } = room.totalUnread();
  const unread = count > 0 || room.membership === "invite";
  return (
    <li>
      <a
        href={`/room/${encodeURIComponent(room.id)}`}
        class={`room-item ${active ? "active" : ""} ${unread ? "unread" : ""}`}
        aria-current={active ? "page" : undefined}
        onClick={(e) => {
          e.preventDefault();
          navigate(`/room/${encodeURIComponent(room.id)}`);
        }}
      >
        <Avatar id={room.id} name={room.name} mxc={room.avatarUrl} size={40} />
        <span class="room-item-text">
          <span class="room-item-top">
            <span class="room-name">
              {room.encrypted && <Icon name="lock" size={12} label="Encrypted" />} {room.name}
            </span>
            {last && room.membership === "join" && <span class="room-time">{shortDate(last.origin_server_ts)}</span>}
          </span>
          <span class="room-item-bottom">
            <span class="room-preview">{preview}</span>
            {room.membership === "invite" ? (
              <span class="badge highlight" aria-label="Invitation">
                new
              </span>
            ) : count > 0 ? (
              <span class={`badge ${highlights > 0 ? "highlight" : ""}`} aria-label={`${count} unread${highlights ? `, ${highlights} mentioning you` : ""}`}>
                {highlights > 0 ? `@${count}` : count}
              </span>
            ) : null}
          </span>
        </span>
      </a>
    </li>
  );
}
