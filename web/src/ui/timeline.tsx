// Rendering timeline events: messages (text, images, files), replies, edits, reactions, redactions,
// membership and state changes as compact lines, local echoes with their sending state.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { num, obj, str, type JsonObject } from "../api.ts";
import { formatBytes, isEmojiOnly, linkify, renderHtml, stripReplyFallback, timeOf } from "../format.ts";
import { isRedacted, type MEvent, type PendingEvent, type Reaction, type Room } from "../room.ts";
import { EmojiPicker } from "./emoji-picker.tsx";
import { ask, askText, attempt, Avatar, Dialog, errorText, Icon, IconButton, toast, useClient, useMedia } from "./common.tsx";

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

/** Event types shown as messages. */
export function isMessageLike(ev: MEvent): boolean {
  if (ev.type !== "m.room.message" && ev.type !== "m.room.encrypted" && ev.type !== "m.sticker") return false;
  const rel = obj(ev.content["m.relates_to"]).rel_type;
  return rel !== "m.replace" && rel !== "m.thread"; // thread replies show in the thread panel
}

/** The root a thread reply belongs to, if it is one. */
export function threadRoot(ev: { content: JsonObject }): string | undefined {
  const rel = obj(ev.content["m.relates_to"]);
  return rel.rel_type === "m.thread" ? str(rel.event_id) : undefined;
}

/** A one-line description of a state or membership event, or null to hide it. */
export function describeState(ev: MEvent, room: Room): string | null {
  const who = room.displayName(ev.sender);
  const create = room.getState("m.room.create");
  const setup = !!create && ev.sender === create.sender && ev.origin_server_ts - create.origin_server_ts < 3000;
  if (setup && ["m.room.join_rules", "m.room.history_visibility", "m.room.power_levels", "m.room.guest_access"].includes(ev.type)) return null;
  if (setup && ev.type === "m.room.member" && ev.state_key === ev.sender && ev.content.membership === "join") return null;
  const c = ev.content;
  const prev = obj(ev.unsigned?.prev_content);
  switch (ev.type) {
    case "m.room.create":
      return `${who} created the room`;
    case "m.room.member": {
      const target = str(c.displayname) ?? ev.state_key ?? "";
      const m = str(c.membership);
      const pm = str(prev.membership);
      const reason = str(c.reason) ? ` (${str(c.reason)})` : "";
      if (m === "join" && pm === "join") {
        if (c.displayname !== prev.displayname) return prev.displayname ? `${str(prev.displayname)} is now known as ${target}` : `${ev.state_key} set their name to ${target}`;
        if (c.avatar_url !== prev.avatar_url) return `${target} changed their avatar`;
        return null;
      }
      if (m === "join") return `${target} joined`;
      if (m === "invite") return `${who} invited ${target}`;
      if (m === "leave") {
        if (ev.sender !== ev.state_key) return pm === "ban" ? `${who} unbanned ${str(prev.displayname) ?? ev.state_key}` : `${who} removed ${str(prev.displayname) ?? ev.state_key}${reason}`;
        return pm === "invite" ? `${str(prev.displayname) ?? ev.state_key} declined the invitation` : `${str(prev.displayname) ?? who} left`;
      }
      if (m === "ban") return `${who} banned ${str(prev.displayname) ?? ev.state_key}${reason}`;
      if (m === "knock") return `${target} asked to join`;
      return null;
    }
    case "m.room.name":
      return str(c.name) ? `${who} named the room “${str(c.name)}”` : `${who} removed the room name`;
    case "m.room.topic":
      return str(c.topic) ? `${who} set the topic to “${str(c.topic)}”` : `${who} removed the topic`;
    case "m.room.avatar":
      return `${who} changed the room picture`;
    case "m.room.join_rules":
      return str(c.join_rule) === "public" ? `${who} made the room open to anyone` : `${who} made the room invite-only`;
    case "m.room.encryption":
      return `${who} turned on end-to-end encryption`;
    case "m.room.history_visibility":
      return `${who} changed who can read history`;
    case "m.room.guest_access":
      return null;
    case "m.room.power_levels":
      return Object.keys(prev).length ? `${who} changed permissions` : null;
    case "m.room.canonical_alias":
      return str(c.alias) ? `${who} set the address to ${str(c.alias)}` : null;
    case "m.room.server_acl":
      return `${who} changed the server access list`;
    case "m.room.tombstone":
      return `${who} upgraded this room`;
    default:
      return null;
  }
}

function replyTarget(content: JsonObject): string | undefined {
  return str(obj(obj(content["m.relates_to"])["m.in_reply_to"]).event_id);
}

/** A message as plain text (for quotes and previews): the HTML's text when formatted. */
export function plainBody(ev: MEvent): string {
  const html = ev.content.format === "org.matrix.custom.html" ? str(ev.content.formatted_body) : undefined;
  if (html) {
    const doc = new DOMParser().parseFromString(`<body>${html.replace(/<mx-reply>[\s\S]*?<\/mx-reply>/g, "")}</body>`, "text/html");
    return doc.body.textContent ?? "";
  }
  return stripReplyFallback(str(ev.content.body) ?? "");
}

/** The message body: safe HTML when formatted, linkified text otherwise. */
function Body({ content, sender, room, edited }: { content: JsonObject; sender: string; room: Room; edited?: boolean }) {
  const body = stripReplyFallback(str(content.body) ?? "");
  const html = content.format === "org.matrix.custom.html" ? str(content.formatted_body) : undefined;
  const emote = content.msgtype === "m.emote";
  const inner = html ? renderHtml(html) : linkify(body);
  return (
    <div class={`body ${content.msgtype === "m.notice" ? "notice" : ""} ${!html && isEmojiOnly(body) ? "emoji" : ""}`}>
      {emote && <span class="emote-name">* {room.displayName(sender)} </span>}
      {inner}
      {edited && <span class="edited muted small"> (edited)</span>}
    </div>
  );
}

function ImageBody({ content, previewUrl }: { content: JsonObject; previewUrl?: string }) {
  const info = obj(content.info);
  const file = content.file ? obj(content.file) : undefined; // an encrypted attachment
  const mxc = str(content.url) ?? (file && str(file.url));
  const w = num(info.w) ?? 320;
  const hh = num(info.h) ?? 240;
  const scale = Math.min(1, 320 / w, 280 / hh);
  const box = { width: `${Math.max(60, Math.round(w * scale))}px`, aspectRatio: `${w} / ${hh}` };
  const thumb = useMedia(previewUrl ? undefined : mxc, { w: 640, h: 480, method: "scale" }, previewUrl ? undefined : file);
  const [open, setOpen] = useState(false);
  const src = previewUrl ?? thumb.url;
  const name = str(content.body) ?? "image";
  return (
    <>
      <button type="button" class="image-msg" style={box} onClick={() => mxc && setOpen(true)} aria-label={`Open image ${name} full size`}>
        {src ? <img src={src} alt={name} /> : thumb.error ? <span class="muted small">Image unavailable: {thumb.error}</span> : <span class="img-loading" />}
      </button>
      {open && mxc && <Lightbox mxc={mxc} file={file} name={name} onClose={() => setOpen(false)} />}
    </>
  );
}

function Lightbox({ mxc, file, name, onClose }: { mxc: string; file?: JsonObject; name: string; onClose: () => void }) {
  const full = useMedia(mxc, undefined, file);
  return (
    <Dialog title={name} onClose={onClose} wide focusFirst={false}>
      <div class="lightbox">
        {full.url ? <img src={full.url} alt={name} /> : full.error ? <p>{full.error}</p> : <span class="img-loading" />}
      </div>
      {full.url && (
        <a class="btn" href={full.url} download={name}>
          <Icon name="download" size={16} /> Download
        </a>
      )}
    </Dialog>
  );
}

function FileBody({ content }: { content: JsonObject }) {
  const client = useClient();
  const info = obj(content.info);
  const name = str(content.body) ?? "file";
  const file = content.file ? obj(content.file) : undefined; // an encrypted attachment
  const mxc = str(content.url) ?? (file && str(file.url));
  const download = async () => {
    if (!mxc) return;
    try {
      const blob = file ? await client.decryptMedia(file) : await client.api.fetchMedia(mxc);
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 30000);
    } catch (e) {
      toast(errorText(e), "error");
    }
  };
  return (
    <div class="file-msg">
      <Icon name="file" size={28} />
      <span class="file-text">
        <strong>{name}</strong>
        <span class="muted small">{num(info.size) !== undefined ? formatBytes(num(info.size)!) : str(info.mimetype) ?? "file"}</span>
      </span>
      {mxc && <IconButton icon="download" label={`Download ${name}`} onClick={download} />}
    </div>
  );
}

function Content({ ev, room, content, previewUrl, edited }: { ev: { type: string; sender: string; e2e?: MEvent["e2e"] }; room: Room; content: JsonObject; previewUrl?: string; edited?: boolean }) {
  const me = useClient().userId;
  if (ev.type === "m.room.encrypted") return <Undecrypted ev={ev} room={room} />;
  const msgtype = str(content.msgtype);
  if (msgtype === "m.key.verification.request") {
    const to = str(content.to) ?? "";
    return <div class="body notice">{room.displayName(ev.sender)} asked {to === me ? "you" : room.displayName(to)} to verify each other with emoji.</div>;
  }
  if (msgtype === "m.image" || ev.type === "m.sticker") return <ImageBody content={content} previewUrl={previewUrl} />;
  if (msgtype === "m.file" || msgtype === "m.video" || msgtype === "m.audio") return <FileBody content={content} />;
  return <Body content={content} sender={ev.sender} room={room} edited={edited} />;
}

/** An encrypted message not (yet) decrypted: decrypting, waiting for its key, or failed (with a retry). */
function Undecrypted({ ev, room }: { ev: { e2e?: MEvent["e2e"] }; room: Room }) {
  const client = useClient();
  const e2e = ev.e2e;
  if (!e2e || e2e.state === "decrypting") {
    return (
      <div class="body encrypted-msg" data-e2e="decrypting">
        <Icon name="lock" size={14} /> Decrypting…
      </div>
    );
  }
  const waiting = e2e.state === "waiting";
  return (
    <div class="body encrypted-msg" data-e2e={e2e.state} title={e2e.reason}>
      <Icon name="lock" size={14} /> {waiting ? "Waiting for the key to this message. It comes from the sender's device; a message from before this device joined may stay unreadable." : `Can't decrypt this message: ${e2e.reason ?? "unknown error"}.`}
      <button type="button" class="btn small" onClick={() => void client.retryDecryption(room)}>
        Retry
      </button>
    </div>
  );
}

export interface MessageProps {
  ev: MEvent;
  room: Room;
  continuation: boolean;
  edit?: MEvent;
  reactions?: Reaction[];
  readers?: string[];
  onReply: (ev: MEvent) => void;
  onEdit: (ev: MEvent) => void;
  highlight?: boolean;
  /** Replies in the thread this message starts (the server's count or the loaded ones). */
  threadReplies?: number;
  inThread?: boolean;
}

export function Message({ ev, room, continuation, edit, reactions, readers, onReply, onEdit, highlight, threadReplies, inThread }: MessageProps) {
  const client = useClient();
  const mine = ev.sender === client.userId;
  const redacted = isRedacted(ev);
  const content = edit ? { ...obj(edit.content["m.new_content"]), "m.relates_to": ev.content["m.relates_to"] } : ev.content;
  // In a thread, the reply to the previous message is only a fallback for clients without threads.
  const fallback = obj(ev.content["m.relates_to"]).rel_type === "m.thread" && obj(ev.content["m.relates_to"]).is_falling_back === true;
  const replyId = fallback ? undefined : replyTarget(ev.content);
  const reply = replyId ? room.timeline.find((e) => e.event_id === replyId) : undefined;
  const [picker, setPicker] = useState(false);
  const [fullPicker, setFullPicker] = useState(false);
  const name = room.displayName(ev.sender);
  const canEdit = mine && !redacted && ev.type === "m.room.message" && ["m.text", "m.emote", "m.notice"].includes(str(ev.content.msgtype) ?? "");
  const canDelete = !redacted && (mine || room.canDo("redact"));
  const thread = obj(ev.content["m.relates_to"]).rel_type === "m.thread";
  const mention = !mine && !redacted && mentionsMe(ev, client.userId, room.displayName(client.userId));
  const toggleReaction = (key: string) => {
    const r = reactions?.find((x) => x.key === key);
    if (r?.mine) void attempt(() => client.redact(room, r.mine!));
    else client.react(room, ev.event_id, key);
    setPicker(false);
  };
  const report = async () => {
    const reason = await askText({ title: "Report message", text: `The server's administrators will see this message from ${name} and your reason.`, input: "Reason", confirm: "Report" });
    if (reason === null) return;
    await attempt(() => client.api.post(`/_matrix/client/v3/rooms/${encodeURIComponent(room.id)}/report/${encodeURIComponent(ev.event_id)}`, { reason }), "Reported to the administrators");
  };
  return (
    <article class={`msg ${continuation ? "cont" : ""} ${mine ? "mine" : ""} ${highlight ? "flash" : ""} ${mention ? "mention" : ""}`} id={`ev-${ev.event_id}`} aria-label={`${name} at ${timeOf(ev.origin_server_ts)}`} data-event-id={ev.event_id}>
      <div class="msg-gutter">{continuation ? <span class="msg-time-hover">{timeOf(ev.origin_server_ts)}</span> : <Avatar id={ev.sender} name={name} mxc={room.avatarOf(ev.sender)} size={36} />}</div>
      <div class="msg-main">
        {!continuation && (
          <div class="msg-head">
            <strong class="sender">{name}</strong>
            <time class="muted small" dateTime={new Date(ev.origin_server_ts).toISOString()}>
              {timeOf(ev.origin_server_ts)}
            </time>
          </div>
        )}
        {replyId && !redacted && (
          <button type="button" class="reply-quote" onClick={() => document.getElementById(`ev-${replyId}`)?.scrollIntoView({ behavior: "smooth", block: "center" })}>
            {reply ? (
              <>
                <strong>{room.displayName(reply.sender)}</strong> <span>{isRedacted(reply) ? "Message deleted" : str(reply.content.msgtype) === "m.image" ? "Image" : plainBody(reply).slice(0, 140)}</span>
              </>
            ) : (
              <span class="muted">In reply to an earlier message</span>
            )}
          </button>
        )}
        {thread && !inThread && <span class="thread-tag small muted">in a thread</span>}
        {redacted ? (
          <div class="body deleted muted">
            <Icon name="trash" size={14} /> Message deleted
          </div>
        ) : (
          <Content ev={ev} room={room} content={content} edited={!!edit} />
        )}
        {!redacted && <LinkPreview room={room} content={content} ts={ev.origin_server_ts} />}
        {reactions && reactions.length > 0 && (
          <div class="reactions">
            {reactions.map((r) => (
              <button type="button" key={r.key} class={`reaction ${r.mine ? "mine" : ""}`} aria-pressed={!!r.mine} onClick={() => toggleReaction(r.key)} title={r.senders.map((s) => room.displayName(s)).join(", ")} aria-label={`${r.key} ${r.count}, by ${r.senders.map((s) => room.displayName(s)).join(", ")}`}>
                <span>{r.key}</span> <span class="count">{r.count}</span>
              </button>
            ))}
          </div>
        )}
        {!inThread && threadReplies !== undefined && threadReplies > 0 && (
          <button type="button" class="thread-summary small" onClick={() => client.openThread(room.id, ev.event_id)}>
            <Icon name="chat" size={14} /> {threadReplies} {threadReplies === 1 ? "reply" : "replies"} in thread
            {room.threadUnread.has(ev.event_id) && <span class={`dot ${room.threadUnread.get(ev.event_id)!.highlights ? "highlight" : ""}`} role="img" aria-label="unread" />}
          </button>
        )}
        {readers && readers.length > 0 && <Readers room={room} users={readers} />}
      </div>
      {!redacted && ev.type !== "m.room.encrypted" && (
        <div class="msg-actions" role="toolbar" aria-label="Message actions">
          <IconButton icon="smile" label="React" onClick={() => setPicker(!picker)} size={16} />
          <IconButton icon="reply" label="Reply" onClick={() => onReply(ev)} size={16} />
          {!inThread && !thread && ev.state_key === undefined && <IconButton icon="chat" label="Reply in thread" onClick={() => client.openThread(room.id, ev.event_id)} size={16} />}
          {canEdit && <IconButton icon="edit" label="Edit" onClick={() => onEdit(ev)} size={16} />}
          {canDelete && <IconButton icon="trash" label="Delete" onClick={() => void ask({ title: "Delete message", text: "Delete this message for everyone in the room?", confirm: "Delete", danger: true }).then((ok) => ok && attempt(() => client.redact(room, ev.event_id)))} size={16} />}
          {!mine && <IconButton icon="flag" label="Report" onClick={report} size={16} />}
          {picker && (
            <div class="picker" role="menu" aria-label="Reactions">
              {QUICK_REACTIONS.map((k) => (
                <button type="button" role="menuitem" key={k} onClick={() => toggleReaction(k)} aria-label={`React with ${k}`}>
                  {k}
                </button>
              ))}
              <button type="button" role="menuitem" class="more-emoji" onClick={() => {
                setPicker(false);
                setFullPicker(true);
              }} aria-label="More emoji">
                <Icon name="plus" size={18} />
              </button>
            </div>
          )}
        </div>
      )}
      {fullPicker && <EmojiPicker title="React with an emoji" onPick={(k) => toggleReaction(k)} onClose={() => setFullPicker(false)} />}
    </article>
  );
}

/** The first web link of a text message, previewed by the server (title, description, image). */
function LinkPreview({ room, content, ts }: { room: Room; content: JsonObject; ts: number }) {
  const client = useClient();
  const msgtype = str(content.msgtype);
  const url = msgtype === "m.text" || msgtype === "m.notice" ? /\bhttps?:\/\/[^\s<>"']*[^\s<>"'.,;:!?)\]}]/.exec(stripReplyFallback(str(content.body) ?? ""))?.[0] : undefined;
  const [p, setP] = useState<JsonObject | null>(null);
  const wanted = !!url && client.previewsWanted(room);
  useEffect(() => {
    if (!wanted || !url) return;
    let live = true;
    void client.urlPreview(url, ts).then((r) => live && setP(r));
    return () => {
      live = false;
    };
  }, [url, wanted]);
  const image = useMedia(p ? str(p["og:image"]) : undefined, { w: 160, h: 160, method: "scale" });
  const title = p ? (str(p["og:title"]) ?? str(p["og:site_name"])) : undefined;
  if (!p || !url || (!title && !str(p["og:description"]))) return null;
  return (
    <a class="link-preview" href={url} target="_blank" rel="noopener noreferrer nofollow" aria-label={`Link preview: ${title ?? url}`}>
      {image.url && <img src={image.url} alt="" />}
      <span class="link-preview-text">
        {title && <strong>{title}</strong>}
        {str(p["og:description"]) && <span class="small">{str(p["og:description"])!.slice(0, 300)}</span>}
        <span class="muted small">{str(p["og:site_name"]) ?? new URL(url).host}</span>
      </span>
    </a>
  );
}

/** Does this message mention me (intentional mentions, or my name or user ID in the text)? */
function mentionsMe(ev: MEvent, userId: string, displayName: string): boolean {
  const mentions = obj(ev.content["m.mentions"]);
  if (Array.isArray(mentions.user_ids) && mentions.user_ids.includes(userId)) return true;
  if (ev.content["m.mentions"] !== undefined) return false; // the sender listed who they meant
  const body = (str(ev.content.body) ?? "").toLowerCase();
  const local = userId.slice(1, userId.indexOf(":")).toLowerCase();
  const words = [userId.toLowerCase(), displayName.toLowerCase(), local].filter((w) => w.length > 1);
  return words.some((w) => new RegExp(`(^|[^\\p{L}\\p{N}_])${w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}($|[^\\p{L}\\p{N}_])`, "u").test(body));
}

function Readers({ room, users }: { room: Room; users: string[] }) {
  const shown = users.slice(0, 4);
  const names = users.map((u) => room.displayName(u));
  return (
    <div class="readers" aria-label={`Read by ${names.join(", ")}`} title={`Read by ${names.join(", ")}`}>
      {shown.map((u) => (
        <Avatar key={u} id={u} name={room.displayName(u)} mxc={room.avatarOf(u)} size={16} />
      ))}
      {users.length > shown.length && <span class="small muted">+{users.length - shown.length}</span>}
    </div>
  );
}

export function PendingMessage({ p, room, continuation }: { p: PendingEvent; room: Room; continuation: boolean }) {
  const client = useClient();
  const name = room.displayName(client.userId);
  if (p.type === "m.reaction") return null;
  return (
    <article class={`msg mine pending ${continuation ? "cont" : ""} ${p.status}`} aria-label={p.status === "failed" ? "Message not sent" : "Sending message"}>
      <div class="msg-gutter">{continuation ? null : <Avatar id={client.userId} name={name} mxc={client.profile.avatar_url} size={36} />}</div>
      <div class="msg-main">
        {!continuation && (
          <div class="msg-head">
            <strong class="sender">{name}</strong>
          </div>
        )}
        <Content ev={{ type: p.type, sender: client.userId }} room={room} content={p.content} previewUrl={p.previewUrl} />
        {p.status === "sending" ? (
          <span class="send-state small muted">{p.file ? "Uploading…" : "Sending…"}</span>
        ) : (
          <span class="send-state failed small" role="alert">
            <Icon name="alert" size={14} /> Not sent{p.error ? `: ${p.error}` : ""}.{" "}
            <button type="button" class="link" onClick={() => client.retry(room, p)}>
              Retry
            </button>{" "}
            <button type="button" class="link" onClick={() => client.cancelPending(room, p)}>
              Delete
            </button>
          </span>
        )}
      </div>
    </article>
  );
}

export function StateLine({ text, ts }: { text: string; ts: number }) {
  return (
    <div class="state-line" role="note">
      <span>{text}</span>
      <time class="muted">{timeOf(ts)}</time>
    </div>
  );
}

export function DaySeparator({ label }: { label: string }) {
  return (
    <div class="day-sep" role="separator" aria-label={label}>
      <span>{label}</span>
    </div>
  );
}

export function TypingIndicator({ room }: { room: Room }) {
  const names = room.typing.map((u) => room.displayName(u));
  let text: ComponentChildren = null;
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = "Several people are typing…";
  return (
    <div class="typing" aria-live="polite">
      {text && (
        <>
          <span class="dots" aria-hidden="true">
            <i />
            <i />
            <i />
          </span>
          {text}
        </>
      )}
    </div>
  );
}

