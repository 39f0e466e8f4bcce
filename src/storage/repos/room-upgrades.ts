// SQL of room upgrades: local aliases and the directory listing move from the old room to the
// new one (tables room_aliases and rooms.is_public from 0003_rooms.sql).
import type { Db } from "../engines/db.ts";

export class RoomUpgradesRepo {
  constructor(private readonly db: Db) {}

  /** Points every local alias of `from` at `to`; returns the aliases moved. */
  async moveLocalAliases(from: string, to: string, serverName: string): Promise<string[]> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.all<{ alias: string }>("SELECT alias FROM room_aliases WHERE room_id = ?", [from]);
      const local = rows.map((r) => r.alias).filter((a) => a.endsWith(`:${serverName}`));
      for (const a of local) await tx.run("UPDATE room_aliases SET room_id = ? WHERE alias = ?", [to, a]);
      return local;
    });
  }

  /** Moves the public room directory listing: the new room is listed when the old one was. */
  async moveDirectoryListing(from: string, to: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const r = await tx.get<{ is_public: number }>("SELECT is_public FROM rooms WHERE room_id = ?", [from]);
      if (!r || Number(r.is_public) !== 1) return false;
      await tx.run("UPDATE rooms SET is_public = 1 WHERE room_id = ?", [to]);
      await tx.run("UPDATE rooms SET is_public = 0 WHERE room_id = ?", [from]);
      return true;
    });
  }
}
