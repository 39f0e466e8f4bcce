// Helpers for simplified sliding sync tests (MSC4186 as Synapse serves it).
import type { TestClient } from "../helpers/client.ts";

export const SS_PATH = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

export interface SsOpts {
  pos?: string;
  timeout?: number;
}

export function ssPath(o: SsOpts = {}): string {
  const q = new URLSearchParams();
  if (o.pos) q.set("pos", o.pos);
  if (o.timeout !== undefined) q.set("timeout", String(o.timeout));
  const s = q.toString();
  return s ? `${SS_PATH}?${s}` : SS_PATH;
}

/** POST the sliding sync endpoint, asserting 200. */
export async function ss(c: TestClient, body: Record<string, unknown>, o: SsOpts = {}): Promise<any> {
  const r = await c.request("POST", ssPath(o), body);
  if (r.status !== 200) throw new Error(`sliding sync → ${r.status} ${JSON.stringify(r.body)}`);
  if (typeof r.body?.pos !== "string") throw new Error(`no pos in ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A list config. */
export function list(range: [number, number], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ranges: [range], timeline_limit: 1, required_state: [], ...extra };
}

/** Room IDs of a list's first range in order. */
export function roomIdsOf(res: any, listKey: string): string[] {
  return res.lists?.[listKey]?.ops?.[0]?.room_ids ?? [];
}

/** Bodies of the m.room.message events of a room's timeline. */
export function bodiesOf(room: any): string[] {
  return (room?.timeline ?? []).filter((e: any) => e.type === "m.room.message").map((e: any) => e.content.body);
}

/** Polls `fn` until it returns a value (tests must not sleep blindly). */
export async function until<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error("timed out");
    await Bun.sleep(20);
  }
}
