// Which relationship an event has, and which thread it belongs to — the one place this is
// decided, for the relations index, push actions and unread counts, and threaded receipts.
//
// Spec: client-server-api "Forming relationships between events" (a relation is
// `content["m.relates_to"]` with a string `rel_type` and `event_id`), modules/threading.md, and
// modules/receipts.md "Threaded read receipts": an event with an m.thread relation is in the
// thread of its root; an event relating to another event in some other way (a reaction, an edit)
// is in the thread of that event; everything else — thread roots included — is in "main".
import type { JsonObject } from "../../protocol/events.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";

export const MAIN_THREAD = "main";

export interface Relation {
  relType: string;
  eventId: string;
  /** m.annotation: the annotation key. */
  key?: string;
}


/** The relationship of an event's content, or undefined when it has none (or a malformed one). */
export function relationOf(content: unknown): Relation | undefined {
  if (!isObject(content)) return undefined;
  const rel = content["m.relates_to"];
  if (!isObject(rel) || typeof rel.rel_type !== "string" || typeof rel.event_id !== "string" || rel.event_id === "") return undefined;
  const out: Relation = { relType: rel.rel_type, eventId: rel.event_id };
  if (typeof rel.key === "string") out.key = rel.key;
  return out;
}

/**
 * The thread of an event: a thread root's event ID, or MAIN_THREAD. `parentThread` gives the
 * thread recorded for the parent event when the parent itself has a relation in the same room
 * (undefined otherwise: the parent is in the main timeline).
 */
export async function threadOfEvent(content: unknown, parentThread: (parentId: string) => Promise<string | undefined>): Promise<string> {
  const rel = relationOf(content);
  if (!rel) return MAIN_THREAD;
  if (rel.relType === "m.thread") return rel.eventId;
  return (await parentThread(rel.eventId)) ?? MAIN_THREAD;
}
