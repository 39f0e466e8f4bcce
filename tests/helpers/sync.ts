// Helpers for /sync and room tests: create rooms, send messages, sync with a filter.
import type { TestClient } from "./client.ts";
import { assertMatchesSpec } from "./openapi.ts";

export const enc = encodeURIComponent;

export async function createRoom(c: TestClient, body: Record<string, unknown> = {}): Promise<string> {
  return (await c.ok("POST", "/_matrix/client/v3/createRoom", body)).room_id as string;
}

export async function join(c: TestClient, roomId: string): Promise<void> {
  await c.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, {});
}

export async function invite(c: TestClient, roomId: string, userId: string): Promise<void> {
  await c.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: userId });
}

export async function leave(c: TestClient, roomId: string): Promise<void> {
  await c.ok("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
}

export async function send(c: TestClient, roomId: string, body: string | Record<string, unknown>, type = "m.room.message"): Promise<string> {
  const content = typeof body === "string" ? { msgtype: "m.text", body } : body;
  return (await c.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/${enc(type)}/${crypto.randomUUID()}`, content)).event_id as string;
}

export async function setState(c: TestClient, roomId: string, type: string, content: Record<string, unknown>, stateKey = ""): Promise<string> {
  return (await c.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`, content)).event_id as string;
}

export interface SyncOpts {
  since?: string;
  filter?: Record<string, unknown> | string;
  timeout?: number;
  full_state?: boolean;
  use_state_after?: boolean;
  set_presence?: string;
}

export function syncPath(o: SyncOpts = {}): string {
  const q = new URLSearchParams();
  if (o.since) q.set("since", o.since);
  if (o.filter !== undefined) q.set("filter", typeof o.filter === "string" ? o.filter : JSON.stringify(o.filter));
  if (o.timeout !== undefined) q.set("timeout", String(o.timeout));
  if (o.full_state !== undefined) q.set("full_state", String(o.full_state));
  if (o.use_state_after !== undefined) q.set("use_state_after", String(o.use_state_after));
  if (o.set_presence !== undefined) q.set("set_presence", o.set_presence);
  const s = q.toString();
  return `/_matrix/client/v3/sync${s ? `?${s}` : ""}`;
}

/** GET /sync, asserting 200 and the spec's response schema. */
export async function sync(c: TestClient, o: SyncOpts = {}): Promise<any> {
  const r = await c.get(syncPath(o));
  if (r.status !== 200) throw new Error(`sync → ${r.status} ${JSON.stringify(r.body)}`);
  assertMatchesSpec("client-server/sync", "GET", "/sync", 200, r.body);
  return r.body;
}

/** Event bodies (content.body) of a timeline. */
export const bodies = (events: any[]): string[] => events.filter((e) => e.type === "m.room.message").map((e) => e.content.body);
