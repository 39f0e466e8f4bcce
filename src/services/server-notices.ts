// Server notices (spec: client-server-api modules/server_notices.md; Synapse's design and admin
// API POST/PUT /_synapse/admin/v1/send_server_notice): notices come from a system user
// ([server_notices] system_mxid_localpart) in one room per user, which that user is invited to
// (never joined automatically), tagged `m.server_notice`, not federated, where the user cannot
// send (users_default -10). The invite cannot be rejected: 403 M_CANNOT_LEAVE_SERVER_NOTICE_ROOM;
// once joined the user may leave, and the next notice then opens a new room (as Synapse does).
import type { Config } from "../config/schema.ts";
import { memberKey } from "../core/state-map.ts";
import type { RoomVersion } from "../core/room-versions.ts";
import { MatrixError } from "../protocol/errors.ts";
import type { JsonObject, RoomEvent } from "../protocol/events.ts";
import type { ServerNoticesRepo } from "../storage/repos/server-notices.ts";
import { KeyedMutex } from "../util/mutex.ts";
import type { AccountData } from "./account-data.ts";
import type { RoomEvents } from "./rooms/events.ts";
import type { Rooms } from "./rooms/rooms.ts";

export const SERVER_NOTICE_TAG = "m.server_notice";

export interface ServerNoticesDeps {
  config: Config;
  repo: ServerNoticesRepo;
  rooms: Rooms;
  events: RoomEvents;
  accountData: AccountData;
  /** Whether a local user has an account. */
  userExists: (userId: string) => Promise<boolean>;
  now?: () => number;
}

export interface NoticeRequest {
  /** The local user the notice is for. */
  userId: string;
  content: JsonObject;
  /** Event type (default m.room.message). */
  type?: string;
  /** Makes the notice a state event. */
  stateKey?: string;
  /** PUT form: retries with the same transaction ID are answered with the first event. */
  txn?: { deviceId: string; txnId: string };
}

export class ServerNotices {
  private readonly locks = new KeyedMutex();
  private systemUserReady = false;

  constructor(private readonly d: ServerNoticesDeps) {}

  private get cfg() {
    return this.d.config.server_notices;
  }

  get enabled(): boolean {
    return this.cfg.system_mxid_localpart !== "";
  }

  /** The user notices come from (undefined when server notices are off). */
  get systemUserId(): string | undefined {
    return this.enabled ? `@${this.cfg.system_mxid_localpart}:${this.d.config.server_name}` : undefined;
  }

  private now(): number {
    return (this.d.now ?? Date.now)();
  }

  /** Sends a notice to a local user; returns the event ID. */
  async send(req: NoticeRequest): Promise<string> {
    const system = this.systemUserId;
    if (!system) throw new MatrixError("M_UNKNOWN", "Server notices are not enabled on this server", {}, 400);
    if (!req.userId.endsWith(`:${this.d.config.server_name}`)) throw new MatrixError("M_UNKNOWN", "Server notices can only be sent to local users", {}, 400);
    if (req.userId === system) throw new MatrixError("M_UNKNOWN", "Server notices cannot be sent to the server notices user", {}, 400);
    if (!(await this.d.userExists(req.userId))) throw new MatrixError("M_NOT_FOUND", "User not found");
    await this.ensureSystemUser(system);
    const roomId = await this.locks.run(req.userId, () => this.roomFor(req.userId, system));
    const r = await this.d.events.send({ roomId, sender: system, type: req.type ?? "m.room.message", stateKey: req.stateKey, content: req.content, txn: req.txn });
    return r.eventId;
  }

  private async ensureSystemUser(system: string): Promise<void> {
    if (this.systemUserReady) return;
    const profile: { displayname?: string; avatar_url?: string } = {};
    if (this.cfg.system_mxid_display_name) profile.displayname = this.cfg.system_mxid_display_name;
    if (this.cfg.system_mxid_avatar_url) profile.avatar_url = this.cfg.system_mxid_avatar_url;
    await this.d.repo.ensureSystemUser(system, profile, this.now());
    this.systemUserReady = true;
  }

  /** The user's notices room: the current one while they are invited or joined, else a new one. */
  private async roomFor(userId: string, system: string): Promise<string> {
    const existing = await this.d.repo.findRoom(userId);
    if (existing) {
      const m = await this.d.events.currentStateEvent(existing, "m.room.member", userId);
      const membership = m?.content["membership"];
      if (membership === "invite" || membership === "join") return existing;
    }
    const initialState: Array<{ type: string; state_key?: string; content: JsonObject }> = [];
    if (this.cfg.room_avatar_url) initialState.push({ type: "m.room.avatar", content: { url: this.cfg.room_avatar_url } });
    const roomId = await this.d.rooms.createRoom(system, {
      preset: "private_chat",
      name: this.cfg.room_name || undefined,
      topic: this.cfg.room_topic || undefined,
      creation_content: { "m.federate": false },
      power_level_content_override: { users_default: -10 },
      initial_state: initialState,
      invite: [userId],
    });
    await this.d.repo.setRoom(userId, roomId, this.now());
    await this.d.accountData.putTag(userId, userId, roomId, SERVER_NOTICE_TAG, {});
    return roomId;
  }

  /**
   * RoomEvents effect beforeLocal (services/event-effects.ts): an invite to a server notices room cannot be rejected
   * (server_notices.md "Client behaviour").
   */
  readonly guardLeave = async (ev: RoomEvent, _rv: RoomVersion, authState: ReadonlyMap<string, RoomEvent>): Promise<void> => {
    if (!this.enabled || ev.type !== "m.room.member" || ev.state_key !== ev.sender || ev.content["membership"] !== "leave" || !ev.room_id) return;
    if (authState.get(memberKey(ev.sender))?.content["membership"] !== "invite") return;
    if (await this.d.repo.isNoticeRoom(ev.room_id, ev.sender)) {
      throw new MatrixError("M_CANNOT_LEAVE_SERVER_NOTICE_ROOM", "You cannot reject this invite: it is the server notices room");
    }
  };
}
