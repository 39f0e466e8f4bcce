// The member list of a room, with invite, kick, ban and unban for those with the power to.
import { useEffect, useState } from "preact/hooks";
import type { Room } from "../room.ts";
import { ask, AsyncForm, attempt, Avatar, Icon, IconButton, useClient } from "./common.tsx";
import { resolveUser, UserPicker } from "./user-picker.tsx";

function roleOf(power: number): string | null {
  if (power === Infinity) return "Owner";
  if (power >= 100) return "Admin";
  if (power >= 50) return "Moderator";
  return null;
}

/** The cross-signing trust of an encrypted room's members (empty until the crypto is loaded). */
export function useMemberTrust(room: Room): Map<string, "verified" | "unverified" | "none"> {
  const client = useClient();
  const [trust, setTrust] = useState<Map<string, "verified" | "unverified" | "none">>(new Map());
  const ids = room.members
    .filter((m) => m.membership === "join" || m.membership === "invite")
    .map((m) => m.userId)
    .join(",");
  useEffect(() => {
    const c = client.crypto;
    if (!c || !room.encrypted || !ids) return;
    let live = true;
    void c.trustOf(ids.split(",")).then((t) => live && setTrust(t), () => {});
    return () => {
      live = false;
    };
  }, [ids, room.encrypted, client.crypto, client.verification?.state]);
  return trust;
}

export function MemberPanel({ room, onClose }: { room: Room; onClose: () => void }) {
  const client = useClient();
  const members = room.members;
  const joined = members.filter((m) => m.membership === "join");
  const invited = members.filter((m) => m.membership === "invite");
  const banned = members.filter((m) => m.membership === "ban");
  const [invitee, setInvitee] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  // Members' cross-signing identities as this device sees them (encrypted rooms).
  const trust = useMemberTrust(room);

  const Row = ({ m }: { m: (typeof members)[number] }) => {
    const role = roleOf(m.power);
    const canKick = m.userId !== client.userId && room.canDo("kick") && room.outranks(m.userId) && m.membership !== "ban";
    const canBan = m.userId !== client.userId && room.canDo("ban") && room.outranks(m.userId);
    const canVerify = m.userId !== client.userId && trust.get(m.userId) === "unverified" && m.membership === "join";
    return (
      <li class="member">
        <Avatar id={m.userId} name={m.name} mxc={m.avatar} size={32} />
        <span class="member-text">
          <span class="member-name">
            {m.name} {role && <span class="tag">{role}</span>}
            {trust.get(m.userId) === "verified" && (
              <span class="tag verified" title="Verified identity">
                <Icon name="lock" size={12} /> Verified
              </span>
            )}
            {trust.get(m.userId) === "unverified" && m.userId !== client.userId && (
              <span class="tag unverified" title="Not verified: compare emoji with them to verify">
                Not verified
              </span>
            )}
          </span>
          <span class="muted small">{m.userId}</span>
        </span>
        {(canKick || canBan || canVerify) && <IconButton icon="more" label={`Actions for ${m.name}`} onClick={() => setOpen(open === m.userId ? null : m.userId)} size={16} />}
        {open === m.userId && (
          <div class="member-menu" role="menu" aria-label={`Actions for ${m.name}`}>
            {canVerify && (
              <button type="button" role="menuitem" onClick={() => void attempt(() => client.verifyUser(m.userId, client.directRooms().get(room.id) === m.userId ? room.id : undefined)).then(() => setOpen(null))}>
                Verify with emoji
              </button>
            )}
            {canKick && (
              <button type="button" role="menuitem" onClick={() => void ask({ title: m.membership === "invite" ? "Cancel invitation" : "Remove from room", text: `Remove ${m.name} (${m.userId}) from ${room.name}? They can come back if invited again.`, confirm: "Remove", danger: true }).then(async (ok) => {
                if (ok) await attempt(() => client.kick(room.id, m.userId), `${m.name} was removed`);
                setOpen(null);
              })}>
                {m.membership === "invite" ? "Cancel invitation" : "Remove from room"}
              </button>
            )}
            {canBan && m.membership !== "ban" && (
              <button type="button" role="menuitem" class="danger-text" onClick={() => void ask({ title: "Ban", text: `Ban ${m.name} (${m.userId}) from ${room.name}? They cannot come back until unbanned.`, confirm: "Ban", danger: true }).then(async (ok) => {
                if (ok) await attempt(() => client.ban(room.id, m.userId), `${m.name} was banned`);
                setOpen(null);
              })}>
                Ban
              </button>
            )}
            {canBan && m.membership === "ban" && (
              <button type="button" role="menuitem" onClick={() => void attempt(() => client.unban(room.id, m.userId), `${m.name} was unbanned`).then(() => setOpen(null))}>
                Unban
              </button>
            )}
          </div>
        )}
      </li>
    );
  };

  return (
    <aside class="members" aria-label="Members">
      <header class="panel-head">
        <h2>Members · {joined.length}</h2>
        <IconButton icon="close" label="Close members" onClick={onClose} />
      </header>
      {room.canDo("invite") && (
        <AsyncForm
          class="invite-form"
          submitLabel="Invite"
          busyLabel="Inviting…"
          onSubmit={async () => {
            const id = await resolveUser(client, invitee);
            await client.invite(room.id, id);
            setInvitee("");
          }}
        >
          <UserPicker label="User ID to invite" value={invitee} onInput={setInvitee} />
        </AsyncForm>
      )}
      <ul class="member-list">
        {joined.map((m) => (
          <Row key={m.userId} m={m} />
        ))}
      </ul>
      {invited.length > 0 && (
        <>
          <h3 class="panel-sub">Invited</h3>
          <ul class="member-list">
            {invited.map((m) => (
              <Row key={m.userId} m={m} />
            ))}
          </ul>
        </>
      )}
      {banned.length > 0 && (
        <>
          <h3 class="panel-sub">Banned</h3>
          <ul class="member-list">
            {banned.map((m) => (
              <Row key={m.userId} m={m} />
            ))}
          </ul>
        </>
      )}
    </aside>
  );
}
