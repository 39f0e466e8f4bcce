// Pagination and sync tokens.
//   s<stream>_<typing>  a position in the global stream (sync `since`/`next_batch`, /messages `from`)
//   t<depth>_<stream>   a gap in a room's topological order: between the events before
//                       (depth, stream) and those from it on (/messages, /context, prev_batch)
// Tokens that Synapse handed out are accepted too, for clients of a server moved from Synapse with
// `hs import-synapse` (which keeps Synapse's event stream orderings and depths): its sync token
// s<events>_<presence>_<typing>_… is read as s<events>, its pagination token t<depth>-<stream>_…
// as t<depth>_<stream>. So clients carry on incrementally instead of failing with a bad token.
import { MatrixError } from "../../protocol/errors.ts";

export interface TopoPosition {
  depth: number;
  stream: number;
}

export type Token = { kind: "stream"; stream: number; typing: number } | ({ kind: "topo" } & TopoPosition);

export function encodeStreamToken(stream: number, typing = 0): string {
  return `s${stream}_${typing}`;
}

export function encodeTopoToken(p: TopoPosition): string {
  return `t${p.depth}_${p.stream}`;
}

const STREAM = /^s(\d{1,16})(?:_(\d{1,16}))?$/;
// Backfilled events sit below every other position (negative stream orderings, see
// RoomEvents.persistBackfilled), so the stream part of a topological token may be negative.
const TOPO = /^t(\d{1,16})_(-?\d{1,16})$/;
const SYNAPSE_STREAM = /^s(\d{1,16})(?:_\d{1,16}){2,12}$/;
const SYNAPSE_TOPO = /^t(\d{1,16})-(\d{1,16})(?:_\d{1,16}){2,12}$/;

export function decodeToken(token: string): Token {
  let m = STREAM.exec(token);
  if (m) return { kind: "stream", stream: Number(m[1]), typing: Number(m[2] ?? 0) };
  m = TOPO.exec(token);
  if (m) return { kind: "topo", depth: Number(m[1]), stream: Number(m[2]) };
  m = SYNAPSE_STREAM.exec(token);
  if (m) return { kind: "stream", stream: Number(m[1]), typing: 0 };
  m = SYNAPSE_TOPO.exec(token);
  if (m) return { kind: "topo", depth: Number(m[1]), stream: Number(m[2]) };
  throw new MatrixError("M_INVALID_PARAM", `Invalid pagination token ${JSON.stringify(token.slice(0, 40))}`);
}

export function decodeStreamToken(token: string): { stream: number; typing: number } {
  const t = decodeToken(token);
  if (t.kind !== "stream") throw new MatrixError("M_INVALID_PARAM", "Expected a sync token");
  return { stream: t.stream, typing: t.typing };
}
