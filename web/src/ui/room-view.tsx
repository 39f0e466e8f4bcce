// One room: header, the scrolling timeline (pagination, day separators, receipts, typing, jump to
// latest) and the composer (formatting, replies, edits, attachments with preview).
import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { num, obj, str, type JsonObject } from "../api.ts";
import { dayKey, dayLabel, escapeHtml, formatBytes, htmlToMarkdown, markdownToHtml, withMentionPills } from "../format.ts";
import { isRedacted, type MEvent, type Room } from "../room.ts";
import { attempt, Avatar, Icon, IconButton, lazyView, navigate, Spinner, useClient } from "./common.tsx";
import { EmojiPicker } from "./emoji-picker.tsx";
import { useMemberTrust } from "./members.tsx";
import { DaySeparator, describeState, isMessageLike, Message, PendingMessage, plainBody, StateLine, threadRoot, TypingIndicator } from "./timeline.tsx";

const SearchDialog = lazyView<Parameters<typeof import("./search.tsx").SearchDialog>[0]>(() => import("./search.tsx").then((m) => m.SearchDialog));

export function RoomView({ room, showMembers, toggleMembers, openSettings }: { room: Room; showMembers: boolean; toggleMembers: () => void; openSettings: () => void }) {
  if (room.membership === "invite") return <InviteView room={room} />;
  return (
    <section class="room" aria-label={room.name}>
      <RoomHeader room={room} showMembers={showMembers} toggleMembers={toggleMembers} openSettings={openSettings} />
      <Timeline key={room.id} room={room} />
    </section>
  );
}

function RoomHeader({ room, showMembers, toggleMembers, openSettings }: { room: Room; showMembers: boolean; toggleMembers: () => void; openSettings: () => void }) {
  const client = useClient();
  const [searching, setSearching] = useState(false);
  const joined = room.members.filter((m) => m.membership === "join").length;
  // Encrypted: a shield when every other member's identity is verified here, a warning when one is not.
  const trust = useMemberTrust(room);
  const others = [...trust].filter(([u, t]) => u !== client.userId && t !== "none");
  const shield = others.length === 0 ? null : others.every(([, t]) => t === "verified") ? "verified" : "unverified";
  return (
    <header class="room-head">
      <IconButton icon="back" label="Back to rooms" class="only-narrow" onClick={() => navigate("/")} />
      <Avatar id={room.id} name={room.name} mxc={room.avatarUrl} size={36} />
      <div class="room-head-text">
        <h1>
          {room.name}
          {room.encrypted && (
            <span class="tag" title="End-to-end encrypted">
              <Icon name="lock" size={12} /> Encrypted
            </span>
          )}
          {shield === "verified" && (
            <span class="tag verified" title="Everyone here has a verified identity">
              <Icon name="lock" size={12} /> Verified
            </span>
          )}
          {shield === "unverified" && (
            <span class="tag unverified" title="Someone here is not verified: verify them from the member list">
              Not verified
            </span>
          )}
        </h1>
        <p class="muted small topic" title={room.topic}>
          {room.topic || `${joined} member${joined === 1 ? "" : "s"}`}
        </p>
      </div>
      <IconButton icon="search" label="Search messages" onClick={() => setSearching(true)} />
      <ThreadsButton room={room} />
      {searching && <SearchDialog room={room} onClose={() => setSearching(false)} />}
      <IconButton icon="users" label={showMembers ? "Hide members" : "Show members"} pressed={showMembers} onClick={toggleMembers} />
      <IconButton icon="settings" label="Room settings" onClick={openSettings} />
    </header>
  );
}

/** The header's Threads button, with the unread notifications of all the room's threads. */
function ThreadsButton({ room }: { room: Room }) {
  const client = useClient();
  const open = client.threadView?.roomId === room.id;
  let notifications = 0;
  let highlights = 0;
  for (const c of room.threadUnread.values()) {
    notifications += c.notifications;
    highlights += c.highlights;
  }
  const label = notifications ? `Threads (${notifications} unread${highlights ? `, ${highlights} mentioning you` : ""})` : "Threads";
  return (
    <span class="badged">
      <IconButton icon="chat" label={label} pressed={open} onClick={() => (open ? client.closeThread() : client.openThread(room.id))} />
      {notifications > 0 && (
        <span class={`badge mini ${highlights ? "highlight" : ""}`} aria-hidden="true">
          {notifications}
        </span>
      )}
    </span>
  );
}

function InviteView({ room }: { room: Room }) {
  const client = useClient();
  const inviter = room.inviter;
  const [busy, setBusy] = useState(false);
  const act = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    await attempt(fn);
    setBusy(false);
  };
  return (
    <section class="room invite-view" aria-label={`Invitation to ${room.name}`}>
      <header class="room-head">
        <IconButton icon="back" label="Back to rooms" class="only-narrow" onClick={() => navigate("/")} />
      </header>
      <div class="invite-card">
        <Avatar id={room.id} name={room.name} mxc={room.avatarUrl} size={72} />
        <h1>{room.name}</h1>
        {room.topic && <p class="muted">{room.topic}</p>}
        <p>{inviter ? `${room.displayName(inviter)} (${inviter}) invited you${room.invitedAsDirect ? " to a direct chat" : ""}.` : "You are invited."}</p>
        <div class="row gap">
          <button type="button" class="btn primary" disabled={busy} onClick={() => act(() => client.join(room.id))}>
            Accept
          </button>
          <button
            type="button"
            class="btn"
            disabled={busy}
            onClick={() =>
              act(async () => {
                await client.leave(room.id);
                navigate("/");
              })
            }
          >
            Decline
          </button>
        </div>
      </div>
    </section>
  );
}

/** Events as rows: day separators, messages grouped by sender, compact state lines. */
function buildRows(room: Room, myUserId: string, highlightId?: string) {
  const { edits, reactions, redacted } = room.relations();
  const readersAt = room.readersAt();
  // Thread replies: counted for their root (the server's summary, or what is loaded, whichever is more).
  const threadCounts = new Map<string, number>();
  for (const ev of room.timeline) {
    const root = threadRoot(ev);
    if (root) threadCounts.set(root, (threadCounts.get(root) ?? 0) + 1);
  }
  const rows: Array<{ key: string; node: (onReply: (e: MEvent) => void, onEdit: (e: MEvent) => void) => ComponentChildren }> = [];
  let lastDay = "";
  let lastSender = "";
  let lastTs = 0;
  // Receipts on hidden events (reactions, edits) move back to the nearest shown event.
  const shown: Array<{ ev: MEvent; readers: string[] }> = [];
  const visible = (ev: MEvent) => isMessageLike(ev) || describeState(ev, room) !== null;
  for (const ev of room.timeline) {
    const readers = readersAt.get(ev.event_id) ?? [];
    if (visible(ev)) shown.push({ ev, readers: [...readers] });
    else if (shown.length) shown[shown.length - 1]!.readers.push(...readers);
  }
  for (const { ev, readers } of shown) {
    const day = dayKey(ev.origin_server_ts);
    if (day !== lastDay) {
      rows.push({ key: `day-${day}`, node: () => <DaySeparator label={dayLabel(ev.origin_server_ts)} /> });
      lastDay = day;
      lastSender = "";
    }
    if (isMessageLike(ev)) {
      const cont = lastSender === ev.sender && ev.origin_server_ts - lastTs < 5 * 60000;
      const e = ev.unsigned?.redacted_because || redacted.has(ev.event_id) ? { ...ev, unsigned: { ...ev.unsigned, redacted_because: {} } } : ev;
      const ed = edits.get(ev.event_id);
      const re = reactions.get(ev.event_id);
      const rd = readers.filter((u) => u !== ev.sender);
      const serverCount = num(obj(obj(ev.unsigned?.["m.relations"])["m.thread"]).count) ?? 0;
      const replies = Math.max(serverCount, threadCounts.get(ev.event_id) ?? 0);
      rows.push({
        key: ev.event_id,
        node: (onReply, onEdit) => <Message ev={e} room={room} continuation={cont} edit={ed} reactions={re} readers={rd} onReply={onReply} onEdit={onEdit} highlight={ev.event_id === highlightId} threadReplies={replies} />,
      });
      lastSender = ev.sender;
      lastTs = ev.origin_server_ts;
    } else {
      const text = describeState(ev, room)!;
      rows.push({ key: ev.event_id, node: () => <StateLine text={text} ts={ev.origin_server_ts} /> });
      lastSender = "";
    }
  }
  for (const p of room.pending) {
    if (p.type === "m.reaction" || ["m.replace", "m.thread"].includes(str(obj(p.content["m.relates_to"]).rel_type) ?? "")) continue;
    const cont = lastSender === myUserId;
    rows.push({ key: p.txnId, node: () => <PendingMessage p={p} room={room} continuation={cont} /> });
    lastSender = myUserId;
  }
  return rows;
}

function Timeline({ room }: { room: Room }) {
  const client = useClient();
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const anchor = useRef<{ height: number; top: number } | null>(null);
  const [showJump, setShowJump] = useState(false);
  const [replyTo, setReplyTo] = useState<MEvent | null>(null);
  const [editing, setEditing] = useState<MEvent | null>(null);
  const [highlightId, setHighlightId] = useState<string | undefined>();
  const rows = buildRows(room, client.userId, highlightId);
  const firstId = room.timeline[0]?.event_id;

  // A search result to show: load history back to it, scroll it to the middle, highlight it.
  const target = client.jumpTarget?.roomId === room.id ? client.jumpTarget.eventId : undefined;
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  useEffect(() => {
    if (!target) return;
    client.jumpTarget = undefined; // (re-renders with no target: the load below goes on)
    void client.loadUntil(room, target).then((found) => {
      if (!mounted.current) return;
      if (!found) return void attempt(async () => Promise.reject(new Error("That message is too far back to show here.")));
      atBottom.current = false;
      anchor.current = null;
      setHighlightId(target);
      requestAnimationFrame(() => document.getElementById(`ev-${target}`)?.scrollIntoView({ block: "center" }));
    });
  }, [target]);

  const loadOlder = async () => {
    const el = scroller.current;
    if (!el || room.loadingHistory || room.prevBatch === null) return;
    anchor.current = { height: el.scrollHeight, top: el.scrollTop };
    await attempt(() => client.paginate(room));
  };

  const maybeRead = () => {
    if (atBottom.current && document.visibilityState === "visible" && document.hasFocus()) void client.markRead(room);
  };

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    const dist = el.scrollHeight - el.scrollTop - el.clientHeight;
    atBottom.current = dist < 40;
    setShowJump(dist > 400);
    if (el.scrollTop < 300) void loadOlder();
    maybeRead();
  };

  // Keep the view pinned: at the bottom for new events, in place when history is prepended.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (anchor.current && !room.loadingHistory) {
      el.scrollTop = anchor.current.top + (el.scrollHeight - anchor.current.height);
      anchor.current = null;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  });

  // Fill the screen with history when the first batch is short.
  useEffect(() => {
    const el = scroller.current;
    if (el && el.scrollHeight <= el.clientHeight + 50 && room.prevBatch !== null && !room.loadingHistory) void loadOlder();
    maybeRead();
  }, [room.version, firstId]);

  useEffect(() => {
    const on = () => maybeRead();
    addEventListener("focus", on);
    document.addEventListener("visibilitychange", on);
    return () => {
      removeEventListener("focus", on);
      document.removeEventListener("visibilitychange", on);
    };
  }, [room.id]);

  const jump = () => {
    const el = scroller.current;
    if (el) el.scrollTo({ top: el.scrollHeight, behavior: "smooth" });
  };

  const onImageLoad = () => {
    const el = scroller.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  };

  return (
    <>
      <div class="timeline" ref={scroller} onScroll={onScroll} onLoadCapture={onImageLoad} role="log" aria-label={`Messages in ${room.name}`} tabIndex={0}>
        <div class="timeline-start">
          {room.loadingHistory ? (
            <Spinner label="Loading older messages" />
          ) : room.prevBatch === null ? (
            <p class="muted small">This is the beginning of the conversation.</p>
          ) : (
            <button type="button" class="btn small" onClick={loadOlder}>
              Load older messages
            </button>
          )}
        </div>
        {room.encrypted && (
          <div class="e2ee-banner" role="note">
            <Icon name="lock" size={16} />
            {client.cryptoState === "unavailable"
              ? `This room is end-to-end encrypted, but encryption could not start here: ${client.cryptoError}. Messages here cannot be read or sent.`
              : client.cryptoState === "loading"
                ? "This room is end-to-end encrypted. Loading encryption…"
                : "Messages in this room are end-to-end encrypted: only its members' devices can read them."}
          </div>
        )}
        {rows.map((r) => (
          <div key={r.key} class="row-wrap">
            {r.node(
              (ev) => {
                setEditing(null);
                setReplyTo(ev);
              },
              (ev) => {
                setReplyTo(null);
                setEditing(ev);
              },
            )}
          </div>
        ))}
      </div>
      {showJump && (
        <button type="button" class="jump" onClick={jump}>
          <Icon name="down" size={16} /> Jump to latest
        </button>
      )}
      <TypingIndicator room={room} />
      {room.membership === "leave" || room.membership === "ban" ? (
        <div class="composer disabled" role="note">
          <Icon name="logout" size={16} /> {room.membership === "ban" ? "You were banned from this room." : "You are no longer in this room."}
          <button
            type="button"
            class="btn small push-right"
            onClick={() =>
              void attempt(async () => {
                await client.forget(room.id);
                navigate("/");
              })
            }
          >
            Forget it
          </button>
        </div>
      ) : room.encrypted && client.cryptoState === "unavailable" ? (
        <div class="composer disabled" role="note">
          <Icon name="lock" size={16} /> Encryption could not start here, so this tab cannot send in this encrypted room.
        </div>
      ) : !room.canSendMessage() ? (
        <div class="composer disabled" role="note">
          You do not have permission to post in this room.
        </div>
      ) : (
        <Composer
          room={room}
          replyTo={replyTo}
          editing={editing}
          clear={() => {
            setReplyTo(null);
            setEditing(null);
          }}
          editLast={() => {
            const last = [...room.timeline].reverse().find((e) => e.sender === client.userId && e.type === "m.room.message" && !isRedacted(e) && obj(e.content["m.relates_to"]).rel_type !== "m.replace" && ["m.text", "m.emote"].includes(str(e.content.msgtype) ?? ""));
            if (last) setEditing(last);
          }}
          onSent={() => {
            atBottom.current = true;
          }}
        />
      )}
    </>
  );
}

/**
 * A message's content from what was typed: Markdown-lite as HTML, the picked mentions as pills, and
 * the intentional mentions (m.mentions: the users picked, and the author of the message replied to).
 */
export function textContent(text: string, mentions: Array<{ name: string; userId: string }> = [], alsoMention: string[] = []): JsonObject {
  const content: JsonObject = { msgtype: "m.text", body: text };
  if (text.startsWith("/me ")) {
    content.msgtype = "m.emote";
    content.body = text.slice(4);
  }
  const body = str(content.body)!;
  const used = mentions.filter((m) => body.includes(m.name));
  let html = markdownToHtml(body);
  if (used.length) html = withMentionPills(html ?? escapeHtml(body).replace(/\n/g, "<br>"), used);
  if (html) {
    content.format = "org.matrix.custom.html";
    content.formatted_body = html;
  }
  const ids = [...new Set([...used.map((m) => m.userId).filter((id) => id.startsWith("@")), ...alsoMention])];
  content["m.mentions"] = ids.length ? { user_ids: ids } : {};
  return content;
}

/** My rooms with an address matching what follows a "#" (by address or name), for the autocomplete. */
function roomCandidates(rooms: Iterable<Room>, query: string): Array<{ name: string; userId: string }> {
  const q = query.toLowerCase();
  const out: Array<{ name: string; userId: string }> = [];
  for (const r of rooms) {
    const alias = str(r.getState("m.room.canonical_alias")?.content.alias);
    if (r.membership !== "join" || !alias || !(alias.toLowerCase().includes(q) || r.name.toLowerCase().includes(q))) continue;
    out.push({ name: alias, userId: alias });
    if (out.length >= 6) break;
  }
  return out;
}

/** Members matching what follows an "@" (by name or user ID), for the autocomplete. */
function mentionCandidates(room: Room, query: string, me: string): Array<{ name: string; userId: string }> {
  const q = query.toLowerCase();
  return room.members
    .filter((m) => m.membership === "join" && m.userId !== me && (m.name.toLowerCase().includes(q) || m.userId.toLowerCase().includes(q)))
    .slice(0, 6)
    .map((m) => ({ name: m.name, userId: m.userId }));
}

function Composer({ room, replyTo, editing, clear, editLast, onSent }: { room: Room; replyTo: MEvent | null; editing: MEvent | null; clear: () => void; editLast: () => void; onSent: () => void }) {
  const client = useClient();
  const [text, setText] = useState("");
  const [file, setFile] = useState<{ file: File; url?: string; dims?: { w: number; h: number } } | null>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const drafts = useRef(new Map<string, string>());
  const [emoji, setEmoji] = useState(false);
  // Mentions picked from the autocomplete (sent as pills and in m.mentions), and the open autocomplete.
  const mentions = useRef<Array<{ name: string; userId: string }>>([]);
  const [ac, setAc] = useState<{ start: number; end: number; items: Array<{ name: string; userId: string }>; index: number } | null>(null);

  const updateAutocomplete = (value: string, caret: number) => {
    const m = /(^|\s)([@#])([^\s@#]{0,40})$/.exec(value.slice(0, caret));
    const items = !m ? [] : m[2] === "@" ? mentionCandidates(room, m[3]!, client.userId) : roomCandidates(client.rooms.values(), m[3]!);
    setAc(m && items.length ? { start: caret - m[3]!.length - 1, end: caret, items, index: 0 } : null);
  };

  const chooseMention = (item: { name: string; userId: string }) => {
    if (!ac) return;
    const next = `${text.slice(0, ac.start)}${item.name} ${text.slice(ac.end)}`;
    mentions.current = [...mentions.current.filter((m) => m.userId !== item.userId), item];
    setText(next);
    drafts.current.set(room.id, next);
    setAc(null);
    placeCaret(input.current, next, ac.start + item.name.length + 1);
  };

  const insertText = (s: string) => {
    const el = input.current;
    const at = el ? el.selectionStart : text.length;
    const end = el ? el.selectionEnd : text.length;
    const next = `${text.slice(0, at)}${s}${text.slice(end)}`;
    setText(next);
    drafts.current.set(room.id, next);
    placeCaret(el, next, at + s.length);
  };

  useEffect(() => {
    setText(drafts.current.get(room.id) ?? "");
    input.current?.focus();
  }, [room.id]);
  useEffect(() => {
    if (editing) {
      // The message as it reads now (its latest edit), formatting and mentions kept.
      const c = obj(obj(room.relations().edits.get(editing.event_id)?.content)["m.new_content"] ?? editing.content);
      const html = c.format === "org.matrix.custom.html" ? str(c.formatted_body) : undefined;
      if (html) {
        const md = htmlToMarkdown(html);
        mentions.current = md.mentions;
        setText(md.text);
      } else setText(plainBody({ ...editing, content: c } as MEvent));
    }
    if (editing || replyTo) input.current?.focus();
  }, [editing?.event_id, replyTo?.event_id]);
  useLayoutEffect(() => {
    const el = input.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 200)}px`;
  }, [text]);

  const pick = (f: File) => {
    if (f.type.startsWith("image/")) {
      const url = URL.createObjectURL(f);
      const img = new Image();
      img.onload = () => setFile({ file: f, url, dims: { w: img.naturalWidth, h: img.naturalHeight } });
      img.onerror = () => setFile({ file: f, url });
      img.src = url;
    } else setFile({ file: f });
  };

  const send = () => {
    if (file) {
      client.sendFile(room, file.file, file.dims);
      setFile(null);
      onSent();
      if (!text.trim()) return;
    }
    const body = text.trim();
    if (!body) return;
    if (editing) {
      const next = textContent(body, mentions.current);
      client.sendMessage(room, {
        msgtype: next.msgtype ?? "m.text",
        body: `* ${body}`,
        "m.new_content": next,
        "m.relates_to": { rel_type: "m.replace", event_id: editing.event_id },
      });
    } else {
      const content = textContent(body, mentions.current, replyTo && replyTo.sender !== client.userId ? [replyTo.sender] : []);
      if (replyTo) content["m.relates_to"] = { "m.in_reply_to": { event_id: replyTo.event_id } };
      client.sendMessage(room, content);
    }
    setText("");
    mentions.current = [];
    setAc(null);
    drafts.current.delete(room.id);
    client.typing(room, false);
    clear();
    onSent();
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (ac && !e.isComposing) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const n = ac.items.length;
        setAc({ ...ac, index: (ac.index + (e.key === "ArrowDown" ? 1 : n - 1)) % n });
        return;
      }
      if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        chooseMention(ac.items[ac.index]!);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        setAc(null);
        return;
      }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    } else if (e.key === "Escape") {
      if (file) setFile(null);
      else if (editing) setText("");
      clear();
    } else if (e.key === "ArrowUp" && !text && !editing) {
      e.preventDefault();
      editLast();
    }
  };

  const onInput = (e: Event) => {
    const el = e.currentTarget as HTMLTextAreaElement;
    const v = el.value;
    setText(v);
    updateAutocomplete(v, el.selectionStart);
    drafts.current.set(room.id, v);
    client.typing(room, v.length > 0);
  };

  const onPaste = (e: ClipboardEvent) => {
    const f = [...(e.clipboardData?.files ?? [])][0];
    if (f) {
      e.preventDefault();
      pick(f);
    }
  };

  const onDrop = (e: DragEvent) => {
    const f = [...(e.dataTransfer?.files ?? [])][0];
    if (f) {
      e.preventDefault();
      pick(f);
    }
  };

  return (
    <div class="composer" onDragOver={(e) => e.preventDefault()} onDrop={onDrop}>
      {(replyTo || editing) && (
        <div class="composer-context">
          <Icon name={editing ? "edit" : "reply"} size={14} />
          <span>
            {editing ? "Editing your message" : `Replying to ${room.displayName(replyTo!.sender)}: `}
            {!editing && <span class="muted">{plainBody(replyTo!).slice(0, 80)}</span>}
          </span>
          <IconButton
            icon="close"
            label={editing ? "Cancel editing" : "Cancel reply"}
            size={14}
            onClick={() => {
              if (editing) setText("");
              clear();
            }}
          />
        </div>
      )}
      {file && (
        <div class="attachment" aria-label="Attachment to send">
          {file.url ? <img src={file.url} alt={`Preview of ${file.file.name}`} /> : <Icon name="file" size={32} />}
          <span class="file-text">
            <strong>{file.file.name}</strong>
            <span class="muted small">{formatBytes(file.file.size)}</span>
          </span>
          <button type="button" class="btn primary small" onClick={send}>
            Send
          </button>
          <IconButton icon="close" label="Remove attachment" onClick={() => setFile(null)} size={16} />
        </div>
      )}
      {ac && (
        <ul class="autocomplete" role="listbox" aria-label={ac.items[0]?.userId.startsWith("#") ? "Room suggestions" : "Mention suggestions"}>
          {ac.items.map((m, i) => (
            <li key={m.userId} role="option" aria-selected={i === ac.index} class={i === ac.index ? "active" : ""} onMouseDown={(e) => {
              e.preventDefault();
              chooseMention(m);
            }}>
              <Avatar id={m.userId} name={m.name} mxc={room.avatarOf(m.userId)} size={20} />
              <strong>{m.name}</strong> <span class="muted small">{m.userId}</span>
            </li>
          ))}
        </ul>
      )}
      {emoji && <EmojiPicker title="Insert an emoji" onPick={insertText} onClose={() => setEmoji(false)} />}
      <div class="composer-row">
        <IconButton icon="attach" label="Attach a file or image" onClick={() => fileInput.current?.click()} />
        <IconButton icon="smile" label="Insert an emoji" onClick={() => setEmoji(true)} />
        <input
          ref={fileInput}
          type="file"
          class="visually-hidden"
          aria-label="Choose a file to send"
          tabIndex={-1}
          onChange={(e) => {
            const f = (e.currentTarget as HTMLInputElement).files?.[0];
            if (f) pick(f);
            (e.currentTarget as HTMLInputElement).value = "";
          }}
        />
        <textarea
          ref={input}
          rows={1}
          value={text}
          placeholder={`Message ${room.name}`}
          aria-label={`Message ${room.name}`}
          aria-autocomplete="list"
          aria-expanded={!!ac}
          onInput={onInput}
          onKeyDown={onKeyDown}
          onPaste={onPaste}
          onBlur={() => client.typing(room, false)}
        />
        <IconButton icon="send" label="Send" onClick={send} class="send" disabled={!text.trim() && !file} />
      </div>
    </div>
  );
}

/**
 * Puts `value` in the composer and the caret at `caret` now, not after the next frame: a key typed
 * in between (a fast typist right after picking a mention) would otherwise land before a caret
 * moved back to a position computed earlier. The re-render with the same value leaves both alone.
 */
function placeCaret(el: HTMLTextAreaElement | null, value: string, caret: number): void {
  if (!el) return;
  el.value = value;
  el.focus();
  el.setSelectionRange(caret, caret);
}
