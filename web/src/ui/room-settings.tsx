// Room settings, in tabs: General (picture, name, topic, who can join, who can read history, guests,
// encryption, leave), Notifications (all messages / mentions / off, as push rules), Addresses (local
// aliases, the main address, the public directory) and Permissions (a power-level editor).
import { useEffect, useState } from "preact/hooks";
import { num, obj, str, type JsonObject } from "../api.ts";
import type { Room } from "../room.ts";
import { ask, AsyncForm, attempt, Avatar, Dialog, Field, navigate, Spinner, useClient, val } from "./common.tsx";

type Tab = "general" | "notifications" | "addresses" | "permissions";

export function RoomSettingsDialog({ room, onClose }: { room: Room; onClose: () => void }) {
  const [tab, setTab] = useState<Tab>("general");
  const tabs: Array<[Tab, string]> = [
    ["general", "General"],
    ["notifications", "Notifications"],
    ["addresses", "Addresses"],
    ["permissions", "Permissions"],
  ];
  return (
    <Dialog title="Room settings" onClose={onClose} wide>
      <div class="tabs" role="tablist" aria-label="Room settings sections">
        {tabs.map(([t, label]) => (
          <button type="button" role="tab" key={t} aria-selected={tab === t} class={tab === t ? "active" : ""} onClick={() => setTab(t)}>
            {label}
          </button>
        ))}
      </div>
      <div role="tabpanel" aria-label={tabs.find(([t]) => t === tab)![1]}>
        {tab === "general" ? <General room={room} onClose={onClose} /> : tab === "notifications" ? <Notifications room={room} /> : tab === "addresses" ? <Addresses room={room} /> : <Permissions room={room} />}
      </div>
    </Dialog>
  );
}

function General({ room, onClose }: { room: Room; onClose: () => void }) {
  const client = useClient();
  const [name, setName] = useState(str(room.getState("m.room.name")?.content.name) ?? "");
  const [topic, setTopic] = useState(room.topic);
  const [joinRule, setJoinRule] = useState(room.joinRule);
  const history0 = str(room.getState("m.room.history_visibility")?.content.history_visibility) ?? "shared";
  const [history, setHistory] = useState(history0);
  const guests0 = str(room.getState("m.room.guest_access")?.content.guest_access) === "can_join";
  const [guests, setGuests] = useState(guests0);
  const canName = room.canSendState("m.room.name");
  const canTopic = room.canSendState("m.room.topic");
  const canAvatar = room.canSendState("m.room.avatar");
  const canRules = room.canSendState("m.room.join_rules");
  const canHistory = room.canSendState("m.room.history_visibility");
  const canGuests = room.canSendState("m.room.guest_access");
  const alias = str(room.getState("m.room.canonical_alias")?.content.alias);

  const save = async () => {
    if (canName && name !== (str(room.getState("m.room.name")?.content.name) ?? "")) await client.setState(room.id, "m.room.name", { name });
    if (canTopic && topic !== room.topic) await client.setState(room.id, "m.room.topic", { topic });
    if (canRules && joinRule !== room.joinRule) await client.setState(room.id, "m.room.join_rules", { join_rule: joinRule } as JsonObject);
    if (canHistory && history !== history0) await client.setState(room.id, "m.room.history_visibility", { history_visibility: history });
    if (canGuests && guests !== guests0) await client.setState(room.id, "m.room.guest_access", { guest_access: guests ? "can_join" : "forbidden" });
    onClose();
  };

  const pickAvatar = async (e: Event) => {
    const f = (e.currentTarget as HTMLInputElement).files?.[0];
    if (!f) return;
    await attempt(async () => {
      const uri = await client.api.upload(f, f.name);
      await client.setState(room.id, "m.room.avatar", { url: uri });
    }, "Room picture updated");
  };

  return (
    <>
      <div class="settings-avatar">
        <Avatar id={room.id} name={room.name} mxc={room.avatarUrl} size={64} />
        {canAvatar && (
          <label class="btn small">
            Change picture
            <input type="file" accept="image/*" class="visually-hidden" onChange={pickAvatar} />
          </label>
        )}
      </div>
      <AsyncForm submitLabel="Save" busyLabel="Saving…" onSubmit={save}>
        <Field label="Name">
          <input name="name" value={name} disabled={!canName} onInput={(e) => setName(val(e))} />
        </Field>
        <Field label="Topic">
          <textarea name="topic" rows={2} value={topic} disabled={!canTopic} onInput={(e) => setTopic((e.currentTarget as HTMLTextAreaElement).value)} />
        </Field>
        <Field label="Who can join">
          <select name="join_rule" value={joinRule} disabled={!canRules} onChange={(e) => setJoinRule((e.currentTarget as HTMLSelectElement).value)}>
            <option value="invite">Only people who are invited</option>
            <option value="public">Anyone who knows the room's address</option>
            {joinRule !== "invite" && joinRule !== "public" && <option value={joinRule}>{joinRule}</option>}
          </select>
        </Field>
        <Field label="Who can read the history" hint="Applies to messages sent from now on.">
          <select name="history_visibility" value={history} disabled={!canHistory} onChange={(e) => setHistory((e.currentTarget as HTMLSelectElement).value)}>
            <option value="shared">Members, all of it (since they joined or before)</option>
            <option value="invited">Members, from when they were invited</option>
            <option value="joined">Members, from when they joined</option>
            <option value="world_readable">Anyone, even without joining</option>
          </select>
        </Field>
        <label class="check">
          <input type="checkbox" name="guest_access" checked={guests} disabled={!canGuests} onChange={(e) => setGuests((e.currentTarget as HTMLInputElement).checked)} /> Guests (people without an account) may join
        </label>
        <p class="muted small">
          Room ID: <code>{room.id}</code>
          {alias && (
            <>
              <br />
              Address: <code>{alias}</code>
            </>
          )}
        </p>
      </AsyncForm>
      <div class="row gap e2ee-setting">
        <span>{room.encrypted ? "End-to-end encryption is on." : "Messages are not end-to-end encrypted."}</span>
        {!room.encrypted && room.canSendState("m.room.encryption") && (
          <button
            type="button"
            class="btn small"
            onClick={() =>
              void ask({ title: "Turn on encryption", text: "Once on, encryption cannot be turned off. Only members' devices will be able to read new messages; bots and bridges without encryption will not.", confirm: "Turn on" }).then(
                (ok) => ok && attempt(() => client.setState(room.id, "m.room.encryption", { algorithm: "m.megolm.v1.aes-sha2" }), "Encryption is on"),
              )
            }
          >
            Turn on encryption
          </button>
        )}
      </div>
      <hr />
      <button
        type="button"
        class="btn danger"
        onClick={() => {
          onClose();
          void ask({ title: "Leave room", text: `Leave ${room.name}? You need an invitation to come back unless it is public.`, confirm: "Leave", danger: true }).then(
            (ok) =>
              ok &&
              attempt(async () => {
                await client.leave(room.id);
                navigate("/");
              }, "You left the room"),
          );
        }}
      >
        Leave room
      </button>
    </>
  );
}

function Notifications({ room }: { room: Room }) {
  const client = useClient();
  const [mode, setMode] = useState(client.roomNotifyMode(room.id));
  const options: Array<["all" | "mentions" | "mute", string, string]> = [
    ["all", "All messages", "Every new message notifies you (your default rules)."],
    ["mentions", "Mentions and keywords", "Only messages that mention you or your keywords."],
    ["mute", "Off", "Nothing from this room notifies you or counts as unread."],
  ];
  return (
    <fieldset class="radio-list">
      <legend>Notify me about</legend>
      {options.map(([m, label, hint]) => (
        <label key={m}>
          <input type="radio" name="notify" checked={mode === m} onChange={() => {
            const before = mode;
            setMode(m);
            void attempt(() => client.setRoomNotifyMode(room.id, m), `Notifications: ${label}`).then((ok) => ok || setMode(before));
          }} /> {label}
          <span class="muted small"> — {hint}</span>
        </label>
      ))}
    </fieldset>
  );
}

function Addresses({ room }: { room: Room }) {
  const client = useClient();
  const [data, setData] = useState<{ aliases: string[]; published: boolean } | null>(null);
  const [local, setLocal] = useState("");
  const canonical = str(room.getState("m.room.canonical_alias")?.content.alias);
  const canCanonical = room.canSendState("m.room.canonical_alias");
  const load = () => client.roomAddresses(room.id).then(setData, () => setData({ aliases: [], published: false }));
  useEffect(() => void load(), [room.id]);
  if (!data) return <Spinner label="Loading addresses" />;
  const server = client.serverName;
  return (
    <>
      <p class="muted">Addresses let people find and join the room, like <code>#name:{server}</code>.</p>
      {data.aliases.length === 0 ? (
        <p class="muted">This room has no address on {server}.</p>
      ) : (
        <ul class="alias-list" aria-label="Local addresses">
          {data.aliases.map((a) => (
            <li key={a}>
              <code>{a}</code>
              {a === canonical ? (
                <span class="tag">Main address</span>
              ) : (
                canCanonical && (
                  <button type="button" class="btn small" onClick={() => void attempt(() => client.setState(room.id, "m.room.canonical_alias", { ...(room.getState("m.room.canonical_alias")?.content ?? {}), alias: a }), `${a} is the main address`)}>
                    Make main address
                  </button>
                )
              )}
              <button type="button" class="btn small danger" onClick={() => void attempt(() => client.removeAlias(a), `${a} removed`).then(load)}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <AsyncForm
        submitLabel="Add address"
        busyLabel="Adding…"
        onSubmit={async () => {
          const l = local.trim().replace(/^#/, "").replace(/:.*$/, "");
          if (!/^[a-z0-9._=\-/+]+$/i.test(l)) throw new Error("Use letters, digits and . _ = - / + only.");
          const alias = `#${l}:${server}`;
          await client.addAlias(room.id, alias);
          if (!canonical && canCanonical) await client.setState(room.id, "m.room.canonical_alias", { alias });
          setLocal("");
          await load();
        }}
      >
        <Field label="New address" hint={`Becomes #name:${server}`}>
          <input name="alias" placeholder="name" value={local} onInput={(e) => setLocal(val(e))} autocapitalize="none" spellcheck={false} />
        </Field>
      </AsyncForm>
      <label class="check">
        <input type="checkbox" checked={data.published} onChange={(e) => {
          const on = (e.currentTarget as HTMLInputElement).checked;
          void attempt(() => client.publishRoom(room.id, on), on ? "Listed in the room directory" : "Removed from the room directory").then(load);
        }} /> List this room in {server}'s public room directory
      </label>
    </>
  );
}

/** Named power levels, as Element offers them. */
const ROLES: Array<[number, string]> = [
  [0, "Member"],
  [50, "Moderator"],
  [100, "Admin"],
];

/** The actions a power-level editor offers: a top-level key or an event type, with a default. */
const ACTIONS: Array<[string, string, number, boolean]> = [
  ["events_default", "Send messages", 0, false],
  ["invite", "Invite people", 0, false],
  ["kick", "Remove people", 50, false],
  ["ban", "Ban people", 50, false],
  ["redact", "Delete others' messages", 50, false],
  ["state_default", "Change settings", 50, false],
  ["m.room.name", "Change the name", 50, true],
  ["m.room.topic", "Change the topic", 50, true],
  ["m.room.power_levels", "Change permissions", 100, true],
];

function Permissions({ room }: { room: Room }) {
  const client = useClient();
  const pl = room.getState("m.room.power_levels")?.content ?? {};
  const can = room.canSendState("m.room.power_levels");
  const mine = room.powerOf(client.userId);
  const [user, setUser] = useState("");
  const [level, setLevel] = useState("50");
  const put = (next: JsonObject, done: string) => attempt(() => client.setState(room.id, "m.room.power_levels", next), done);
  const levelOf = (key: string, def: number, isEvent: boolean) => (isEvent ? num(obj(pl.events)[key]) : num(pl[key])) ?? def;
  const setLevelOf = (key: string, isEvent: boolean, v: number) =>
    put(isEvent ? { ...pl, events: { ...obj(pl.events), [key]: v } } : { ...pl, [key]: v }, "Permissions changed");
  const users = Object.entries(obj(pl.users)).filter(([, v]) => typeof v === "number") as Array<[string, number]>;
  const select = (value: number, onChange: (v: number) => void, label: string, disabled: boolean) => (
    <select aria-label={label} value={String(value)} disabled={disabled} onChange={(e) => onChange(Number((e.currentTarget as HTMLSelectElement).value))}>
      {ROLES.map(([n, name]) => (
        <option key={n} value={String(n)}>
          {name} ({n})
        </option>
      ))}
      {!ROLES.some(([n]) => n === value) && <option value={String(value)}>Custom ({value})</option>}
    </select>
  );
  return (
    <>
      {!can && <p class="muted">You can see the permissions but not change them.</p>}
      <h3 class="panel-sub">Roles</h3>
      <ul class="perm-list" aria-label="Roles">
        {room.members
          .filter((m) => m.power === Infinity)
          .map((m) => (
            <li key={m.userId}>
              <span>
                {m.name} <span class="muted small">{m.userId}</span>
              </span>
              <span class="tag" title="The room's creator: above every power level (room version 12)">
                Owner
              </span>
            </li>
          ))}
        {users
          .sort((a, b) => b[1] - a[1])
          .map(([u, v]) => (
            <li key={u}>
              <span>
                {room.displayName(u)} <span class="muted small">{u}</span>
              </span>
              {select(v, (n) => void put({ ...pl, users: { ...obj(pl.users), [u]: n } }, `${room.displayName(u)}'s role changed`), `Role of ${u}`, !can || u !== client.userId && v >= mine)}
            </li>
          ))}
      </ul>
      {can && (
        <AsyncForm
          submitLabel="Give role"
          busyLabel="Saving…"
          onSubmit={async () => {
            const u = user.trim();
            if (!/^@[^:]+:.+$/.test(u)) throw new Error(`Enter a full user ID, like @alice:${client.serverName}`);
            const n = Number(level);
            if (n > mine) throw new Error("You cannot give a role above your own.");
            await client.setState(room.id, "m.room.power_levels", { ...pl, users: { ...obj(pl.users), [u]: n } });
            setUser("");
          }}
        >
          <div class="row gap">
            <input aria-label="User ID for the role" placeholder={`@name:${client.serverName}`} value={user} onInput={(e) => setUser(val(e))} autocapitalize="none" spellcheck={false} />
            <select aria-label="Role to give" value={level} onChange={(e) => setLevel((e.currentTarget as HTMLSelectElement).value)}>
              {ROLES.map(([n, name]) => (
                <option key={n} value={String(n)}>
                  {name}
                </option>
              ))}
            </select>
          </div>
        </AsyncForm>
      )}
      <h3 class="panel-sub">Who may</h3>
      <ul class="perm-list" aria-label="Actions">
        {ACTIONS.map(([key, label, def, isEvent]) => (
          <li key={key}>
            <span>{label}</span>
            {select(levelOf(key, def, isEvent), (n) => void setLevelOf(key, isEvent, n), `Who may: ${label}`, !can)}
          </li>
        ))}
      </ul>
    </>
  );
}
