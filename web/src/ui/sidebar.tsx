// The room list: invites, direct messages and rooms with unread counts and highlights.
import { useState } from "preact/hooks";
import { str } from "../api.ts";
import type { Room } from "../room.ts";
import { isRedacted } from "../room.ts";
import { shortDate } from "../format.ts";
import { Avatar, Icon, IconButton, navigate, useClient, val } from "./common.tsx";

export type DialogName = "create" | "explore" | "dm" | null;

export function Sidebar({ currentRoom, openDialog, theme, toggleTheme }: { currentRoom?: string; openDialog: (d: DialogName) => void; theme: string; toggleTheme: () => void }) {
  const client = useClient();
  const [filter, setFilter] = useState("");
  const direct = client.directRooms();
  const rooms = client.sortedRooms().filter((r) => !filter || r.name.toLowerCase().includes(filter.toLowerCase()));
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
      <div class="room-list">
        {!client.ready && <p class="muted pad">Loading your rooms…</p>}
        {invites.length > 0 && <RoomGroup title="Invites" rooms={invites} current={currentRoom} />}
        <RoomGroup title="People" rooms={dms} current={currentRoom} action={{ label: "Start a direct chat", onClick: () => openDialog("dm") }} empty="No direct chats yet" />
        <RoomGroup title="Rooms" rooms={groups} current={currentRoom} action={{ label: "Create a room", onClick: () => openDialog("create") }} empty={client.ready ? "No rooms yet" : undefined} />
      </div>
    </nav>
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
    const body = isRedacted(last) ? "Message deleted" : last.type === "m.room.encrypted" ? "Encrypted message" : last.content.msgtype === "m.image" ? "sent an image" : last.content.msgtype === "m.file" ? "sent a file" : (str(last.content.body) ?? "");
    preview = `${who}: ${body}`;
  } else if (room.membership === "join") {
    preview = room.encrypted ? "Encrypted room" : "No messages yet";
  }
  const unread = room.unread > 0 || room.membership === "invite";
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
            ) : room.unread > 0 ? (
              <span class={`badge ${room.highlights > 0 ? "highlight" : ""}`} aria-label={`${room.unread} unread${room.highlights ? `, ${room.highlights} mentioning you` : ""}`}>
                {room.highlights > 0 ? `@${room.unread}` : room.unread}
              </span>
            ) : null}
          </span>
        </span>
      </a>
    </li>
  );
}
