// Threads (m.thread): the panel beside the room with the room's thread list (GET /threads) or one
// thread — its root, its replies (GET /relations/{root}/m.thread, then live from /sync) and a
// composer that replies in the thread (with the reply fallback to the latest reply, as the spec asks).
import { useEffect, useRef, useState } from "preact/hooks";
import { arr, num, obj, str, type JsonObject } from "../api.ts";
import type { MEvent, Room } from "../room.ts";
import { textContent } from "./room-view.tsx";
import { attempt, IconButton, Spinner, useClient } from "./common.tsx";
import { Message, PendingMessage, plainBody, threadRoot } from "./timeline.tsx";

const enc = encodeURIComponent;

export function ThreadPanel({ room, rootId }: { room: Room; rootId?: string }) {
  const client = useClient();
  return (
    <aside class="members thread-panel" aria-label={rootId ? "Thread" : "Threads"}>
      <header class="panel-head">
        {rootId && <IconButton icon="back" label="All threads" onClick={() => client.openThread(room.id)} />}
        <h2>{rootId ? "Thread" : "Threads"}</h2>
        <IconButton icon="close" label="Close threads" onClick={() => client.closeThread()} />
      </header>
      {rootId ? <Thread key={rootId} room={room} rootId={rootId} /> : <ThreadList room={room} />}
    </aside>
  );
}

function ThreadList({ room }: { room: Room }) {
  const client = useClient();
  const [roots, setRoots] = useState<MEvent[] | null>(null);
  useEffect(() => {
    let live = true;
    void client.api
      .get(`/_matrix/client/v1/rooms/${enc(room.id)}/threads`, { limit: 50 })
      .then((r) => client.adopt(room, arr(r.chunk).map((e) => obj(e) as unknown as MEvent)))
      .then((l) => live && setRoots(l), () => live && setRoots([]));
    return () => {
      live = false;
    };
  }, [room.id, room.version]);
  if (!roots) return <Spinner label="Loading threads" />;
  if (!roots.length) return <p class="muted pad">No threads in this room yet. Start one with "Reply in thread" on a message.</p>;
  return (
    <ul class="thread-list" aria-label="Threads in this room">
      {roots.map((r) => {
        const summary = obj(obj(r.unsigned?.["m.relations"])["m.thread"]);
        const latest = obj(summary.latest_event);
        const unread = room.threadUnread.get(r.event_id);
        return (
          <li key={r.event_id}>
            <button type="button" class={`thread-item ${unread ? "unread" : ""}`} onClick={() => client.openThread(room.id, r.event_id)}>
              <span class="thread-item-top">
                <strong>{room.displayName(r.sender)}</strong>
                {unread && <ThreadBadge counts={unread} />}
              </span>
              <span class="thread-text">{plainBody(r).slice(0, 120)}</span>
              <span class="muted small">
                {num(summary.count) ?? 0} {num(summary.count) === 1 ? "reply" : "replies"}
                {str(latest.sender) ? ` · last from ${room.displayName(str(latest.sender)!)}` : ""}
              </span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}

/** A thread's unread notifications (highlighted when one mentions me). */
export function ThreadBadge({ counts }: { counts: { notifications: number; highlights: number } }) {
  return (
    <span class={`badge ${counts.highlights > 0 ? "highlight" : ""}`} aria-label={`${counts.notifications} unread in thread${counts.highlights ? `, ${counts.highlights} mentioning you` : ""}`}>
      {counts.highlights > 0 ? `@${counts.notifications}` : counts.notifications}
    </span>
  );
}

function Thread({ room, rootId }: { room: Room; rootId: string }) {
  const client = useClient();
  const [root, setRoot] = useState<MEvent | undefined>(() => room.timeline.find((e) => e.event_id === rootId));
  const [fetched, setFetched] = useState<MEvent[]>([]);
  const [text, setText] = useState("");
  const list = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let live = true;
    void (async () => {
      if (!root) {
        const ev = obj(await client.api.get(`/_matrix/client/v3/rooms/${enc(room.id)}/event/${enc(rootId)}`).catch(() => ({}))) as unknown as MEvent;
        if (ev.event_id && live) setRoot((await client.adopt(room, [ev]))[0]);
      }
      const r = await client.api.get(`/_matrix/client/v1/rooms/${enc(room.id)}/relations/${enc(rootId)}/m.thread`, { dir: "f", limit: 100 }).catch(() => ({ chunk: [] }));
      const evs = await client.adopt(room, arr(obj(r).chunk).map((e) => obj(e) as unknown as MEvent));
      if (live) setFetched(evs);
    })();
    return () => {
      live = false;
    };
  }, [rootId]);
  // Replies: fetched ones and those the sync brought (by event ID, in time order).
  const byId = new Map<string, MEvent>();
  for (const e of [...fetched, ...room.timeline.filter((e) => threadRoot(e) === rootId)]) byId.set(e.event_id, e);
  const replies = [...byId.values()].filter((e) => e.type === "m.room.message" || e.type === "m.room.encrypted").sort((a, b) => a.origin_server_ts - b.origin_server_ts);
  const pending = room.pending.filter((p) => threadRoot(p) === rootId);
  const { edits, reactions } = room.relations();
  useEffect(() => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [replies.length, pending.length]);
  // Reading the thread: a threaded receipt (thread_id = the root) for its latest event, while the
  // page is seen (again when the page comes back into view).
  const latestId = replies.length ? replies[replies.length - 1]!.event_id : undefined;
  useEffect(() => {
    if (!latestId) return;
    const read = () => {
      if (document.visibilityState === "visible" && document.hasFocus()) void client.markThreadRead(room, rootId, latestId);
    };
    read();
    window.addEventListener("focus", read);
    document.addEventListener("visibilitychange", read);
    return () => {
      window.removeEventListener("focus", read);
      document.removeEventListener("visibilitychange", read);
    };
  }, [latestId, room.threadUnread.get(rootId)?.notifications]);

  const send = () => {
    const body = text.trim();
    if (!body) return;
    const last = replies[replies.length - 1]?.event_id ?? rootId;
    const content: JsonObject = { ...textContent(body), "m.relates_to": { rel_type: "m.thread", event_id: rootId, is_falling_back: true, "m.in_reply_to": { event_id: last } } };
    client.sendMessage(room, content);
    setText("");
  };
  const none = () => {};
  return (
    <>
      <div class="thread-messages" ref={list} role="log" aria-label="Messages in this thread">
        {root ? <Message ev={root} room={room} continuation={false} edit={edits.get(root.event_id)} reactions={reactions.get(root.event_id)} onReply={none} onEdit={none} inThread /> : <Spinner label="Loading the thread" />}
        <p class="muted small thread-count">
          {replies.length} {replies.length === 1 ? "reply" : "replies"}
        </p>
        {replies.map((e) => (
          <Message key={e.event_id} ev={e} room={room} continuation={false} edit={edits.get(e.event_id)} reactions={reactions.get(e.event_id)} onReply={none} onEdit={none} inThread />
        ))}
        {pending.map((p) => (
          <PendingMessage key={p.txnId} p={p} room={room} continuation={false} />
        ))}
      </div>
      <form
        class="thread-composer"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <textarea
          rows={2}
          aria-label="Reply in thread"
          placeholder="Reply in thread…"
          value={text}
          onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              void attempt(async () => send());
            }
          }}
        />
        <IconButton icon="send" label="Send in thread" onClick={send} disabled={!text.trim()} />
      </form>
    </>
  );
}
