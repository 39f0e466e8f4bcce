// GET /_matrix/client/v1/mutual_rooms (spec v1.19: modules/mutual_rooms.md, mutual_rooms.yaml):
// the rooms the requester and another user are both joined to, a page at a time. The batch token
// names the last room of the page (rooms are listed by room ID), so it never expires; `count` is
// the total. An unknown user shares no rooms (an empty list, not an error).
import { MatrixError } from "../protocol/errors.ts";
import { isCompliantUserId } from "../protocol/ids.ts";
import type { RoomExtrasRepo } from "../storage/repos/room-extras.ts";

export class MutualRooms {
  /** Rooms per page. */
  pageSize = 100;

  constructor(private readonly repo: RoomExtrasRepo) {}

  async list(userId: string, other: string, from?: string): Promise<{ joined: string[]; count: number; next_batch?: string }> {
    if (!isCompliantUserId(other)) throw new MatrixError("M_INVALID_PARAM", "The user ID provided was invalid");
    if (other === userId) throw new MatrixError("M_INVALID_PARAM", "You cannot ask for the rooms you share with yourself");
    let after: string | undefined;
    if (from !== undefined) {
      after = decodeBatch(from);
      if (after === undefined) throw new MatrixError("M_INVALID_PARAM", "Invalid or expired 'from' token");
    }
    const { rooms, count } = await this.repo.mutualRooms(userId, other, after, this.pageSize + 1);
    const out: { joined: string[]; count: number; next_batch?: string } = { joined: rooms.slice(0, this.pageSize), count };
    if (rooms.length > this.pageSize) out.next_batch = encodeBatch(out.joined[out.joined.length - 1]!);
    return out;
  }
}

function encodeBatch(roomId: string): string {
  return `m${Buffer.from(roomId, "utf8").toString("base64url")}`;
}

function decodeBatch(token: string): string | undefined {
  if (!/^m[A-Za-z0-9_-]{1,400}$/.test(token)) return undefined;
  const roomId = Buffer.from(token.slice(1), "base64url").toString("utf8");
  return roomId.startsWith("!") ? roomId : undefined;
}
