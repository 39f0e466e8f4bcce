// Message search on the server (POST /search): in this room or in all rooms, newest first, with the
// matched words marked; choosing a result opens its room scrolled to the message (older history is
// loaded until it is there) and highlights it.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { str } from "../api.ts";
import { timeOf } from "../format.ts";
import type { MEvent, Room } from "../room.ts";
import { AsyncForm, Dialog, navigate, useClient, val } from "./common.tsx";
import { plainBody } from "./timeline.tsx";

/** The text with the server's highlight words marked. */
function marked(text: string, words: string[]): ComponentChildren {
  const ws = words.filter((w) => w.length > 0).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  if (!ws.length) return text;
  const parts = text.split(new RegExp(`(${ws.join("|")})`, "gi"));
  return parts.map((p, i) => (i % 2 === 1 ? <mark key={i}>{p}</mark> : p));
}

export function SearchDialog({ room, onClose }: { room: Room; onClose: () => void }) {
  const client = useClient();
  const [term, setTerm] = useState("");
  const [scope, setScope] = useState<"room" | "all">("room");
  const [res, setRes] = useState<{ results: Array<{ roomId: string; event: MEvent }>; count: number; nextBatch?: string; highlights: string[] } | null>(null);
  const run = async (more = false) => {
    const t = term.trim();
    if (!t) throw new Error("Type what to look for.");
    const r = await client.search(t, scope === "room" ? room.id : undefined, more ? res?.nextBatch : undefined);
    setRes(more && res ? { ...r, results: [...res.results, ...r.results], highlights: [...new Set([...res.highlights, ...r.highlights])] } : r);
  };
  const open = (roomId: string, eventId: string) => {
    client.jumpTarget = { roomId, eventId };
    navigate(`/room/${encodeURIComponent(roomId)}`);
    client.emit();
    onClose();
  };
  return (
    <Dialog title="Search messages" onClose={onClose} wide>
      <AsyncForm submitLabel="Search" busyLabel="Searching…" onSubmit={() => run()}>
        <input type="search" aria-label="Search for" placeholder="Words to find" value={term} onInput={(e) => setTerm(val(e))} />
        <div class="row gap small">
          <label>
            <input type="radio" name="scope" checked={scope === "room"} onChange={() => setScope("room")} /> This room
          </label>
          <label>
            <input type="radio" name="scope" checked={scope === "all"} onChange={() => setScope("all")} /> All rooms
          </label>
        </div>
      </AsyncForm>
      {room.encrypted && scope === "room" && <p class="muted small">This room is end-to-end encrypted: the server cannot search its messages.</p>}
      {res && (
        <section aria-label="Search results">
          <p class="muted small">{res.count === 0 ? "No messages found." : `${res.count} message${res.count === 1 ? "" : "s"} found`}</p>
          <ul class="search-results">
            {res.results.map(({ roomId, event }) => {
              const r = client.rooms.get(roomId);
              return (
                <li key={event.event_id}>
                  <button type="button" class="search-result" onClick={() => open(roomId, event.event_id)}>
                    <span class="muted small">
                      {r?.displayName(event.sender) ?? event.sender}
                      {scope === "all" && r ? ` in ${r.name}` : ""} · {new Date(event.origin_server_ts).toLocaleDateString()} {timeOf(event.origin_server_ts)}
                    </span>
                    <span class="search-text">{marked(plainBody(event).slice(0, 300) || (str(event.content.body) ?? ""), res.highlights)}</span>
                  </button>
                </li>
              );
            })}
          </ul>
          {res.nextBatch && (
            <AsyncForm submitLabel="More results" busyLabel="Loading…" onSubmit={() => run(true)}>
              {null}
            </AsyncForm>
          )}
        </section>
      )}
    </Dialog>
  );
}
