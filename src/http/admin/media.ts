// Synapse's media admin API (docs/admin_api/media_admin_api.md and user_admin_api.md), for server admins:
//   GET    /_synapse/admin/v1/media/{serverName}/{mediaId}              media info
//   DELETE /_synapse/admin/v1/media/{serverName}/{mediaId}              delete one (local or cached remote)
//   POST   /_synapse/admin/v1/media/delete?before_ts=&size_gt=&keep_profiles=   delete local media by age/size
//   POST   /_synapse/admin/v1/media/{serverName}/delete?...             the same (serverName must be ours)
//   POST   /_synapse/admin/v1/purge_media_cache?before_ts=              delete cached remote media by age
//   POST   /_synapse/admin/v1/media/quarantine/{serverName}/{mediaId}   and /unquarantine/...
//   POST   /_synapse/admin/v1/user/{userId}/media/quarantine            all of a user's media
//   POST   /_synapse/admin/v1/media/protect/{mediaId}                   and /unprotect/{mediaId}
//   GET    /_synapse/admin/v1/users/{userId}/media                      a user's uploads (paginated)
//   DELETE /_synapse/admin/v1/users/{userId}/media                      delete them
//   GET    /_synapse/admin/v1/statistics/users/media                    space used per user
//   GET    /_synapse/admin/v1/room/{roomId}/media                       media a room refers to
//   POST   /_synapse/admin/v1/room/{roomId}/media/quarantine            quarantine it (also /quarantine_media/{roomId})
import { MatrixError } from "../../protocol/errors.ts";
import { isValidRoomId, isValidUserId, parseUserId } from "../../protocol/ids.ts";
import type { Services } from "../../services/index.ts";
import type { MediaRecord, UserMediaOrder } from "../../services/media/media.ts";
import type { App } from "../app.ts";
import { queryBool, queryInt, type Query } from "./query.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

const USER_MEDIA_ORDERS: readonly UserMediaOrder[] = ["media_id", "upload_name", "created_ts", "last_access_ts", "media_length", "media_type", "quarantined_by", "safe_from_quarantine"];

function userMediaJson(m: MediaRecord) {
  return {
    media_id: m.mediaId,
    media_type: m.contentType,
    media_length: m.size,
    upload_name: m.uploadName,
    created_ts: m.createdTs,
    last_access_ts: m.lastAccessTs,
    quarantined_by: m.quarantinedBy,
    safe_from_quarantine: m.protected,
  };
}

function dirParam(q: Query): "f" | "b" {
  const d = q.dir ?? "f";
  if (d !== "f" && d !== "b") throw new MatrixError("M_INVALID_PARAM", "Unknown direction: must be 'f' or 'b'");
  return d;
}

export function mediaAdminRoutes(app: App, svc: Pick<Services, "auth" | "media" | "config" | "events">): void {
  const route = routes(app, svc);
  const media = svc.media;
  const ourName = svc.config.server_name;
  const localUser = (userId: string) => {
    if (!isValidUserId(userId)) throw new MatrixError("M_INVALID_PARAM", "Invalid user ID");
    if (parseUserId(userId)?.serverName !== ourName) throw new MatrixError("M_INVALID_PARAM", "Can only look up local users");
    return userId;
  };

  route({ method: "GET", path: "/_synapse/admin/v1/media/:serverName/:mediaId", api: "synapse-admin", access: "admin", params: { serverName: param.raw, mediaId: param.raw } }, async ({ request, params }) => {
    const m = await media.find(params.serverName, params.mediaId);
    if (!m) throw new MatrixError("M_NOT_FOUND", "Unknown media");
    return {
      media_info: {
        media_origin: m.origin,
        user_id: m.userId,
        ...userMediaJson(m),
        authenticated: m.authenticated,
        url_cache: m.urlPreview ? "preview" : null,
        sha256: m.sha256,
      },
    };
  });

  route({ method: "DELETE", path: "/_synapse/admin/v1/media/:serverName/:mediaId", api: "synapse-admin", access: "admin", params: { serverName: param.raw, mediaId: param.raw } }, async ({ request, params }) => {
    const m = await media.find(params.serverName, params.mediaId);
    if (!m) throw new MatrixError("M_NOT_FOUND", "Unknown media");
    const r = await media.deleteMedia([{ origin: m.origin, mediaId: m.mediaId }]);
    return { deleted_media: r.deleted.map((k) => k.mediaId), total: r.deleted.length };
  });

  const deleteLocal = async (query: Query) => {
    const beforeTs = queryInt(query, "before_ts");
    if (beforeTs === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing integer query parameter 'before_ts'");
    if (beforeTs < 30000000000) {
      // Synapse refuses timestamps in seconds (before 1970-12-12 in ms): they would delete nothing.
      throw new MatrixError("M_INVALID_PARAM", "Query parameter before_ts must be a timestamp in milliseconds");
    }
    const sizeGt = queryInt(query, "size_gt") ?? 0;
    const keepProfiles = queryBool(query, "keep_profiles") ?? true;
    const r = await media.purge({ scope: "local", beforeTs, sizeGt: sizeGt > 0 ? sizeGt : undefined, keepProtected: true, keepProfiles });
    return { deleted_media: r.deleted.map((k) => k.mediaId), total: r.deleted.length };
  };
  route({ method: "POST", path: "/_synapse/admin/v1/media/delete", api: "synapse-admin", access: "admin" }, ({ query }) => deleteLocal(query));
  route({ method: "POST", path: "/_synapse/admin/v1/media/:serverName/delete", api: "synapse-admin", access: "admin", params: { serverName: param.raw } }, ({ query, params }) => {
    if (params.serverName !== ourName) throw new MatrixError("M_INVALID_PARAM", "Can only delete local media");
    return deleteLocal(query);
  });

  route({ method: "POST", path: "/_synapse/admin/v1/purge_media_cache", api: "synapse-admin", access: "admin" }, async ({ request, query }) => {
    const beforeTs = queryInt(query, "before_ts");
    if (beforeTs === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing integer query parameter 'before_ts'");
    const r = await media.purge({ scope: "remote", beforeTs });
    return { deleted: r.deleted.length };
  });

  route({ method: "POST", path: "/_synapse/admin/v1/media/quarantine/:serverName/:mediaId", api: "synapse-admin", access: "admin", params: { serverName: param.raw, mediaId: param.raw } }, async ({ who: r, request, params }) => {
    await media.quarantine(params.serverName, params.mediaId, r.userId);
    return {};
  });
  route({ method: "POST", path: "/_synapse/admin/v1/media/unquarantine/:serverName/:mediaId", api: "synapse-admin", access: "admin", params: { serverName: param.raw, mediaId: param.raw } }, async ({ request, params }) => {
    await media.unquarantine(params.serverName, params.mediaId);
    return {};
  });
  const roomParam = (roomId: string) => {
    if (!isValidRoomId(roomId)) throw new MatrixError("M_INVALID_PARAM", "Invalid room ID");
    return roomId;
  };
  route({ method: "GET", path: "/_synapse/admin/v1/room/:roomId/media", api: "synapse-admin", access: "admin", params: { roomId: param.raw } }, async ({ request, params }) => {
    const roomId = roomParam(params.roomId);
    if (!(await svc.events.roomVersion(roomId))) throw new MatrixError("M_NOT_FOUND", "Room not found");
    return media.roomMedia(roomId);
  });
  for (const path of ["/_synapse/admin/v1/room/:roomId/media/quarantine", "/_synapse/admin/v1/quarantine_media/:roomId"]) {
    route({ method: "POST", path, api: "synapse-admin", access: "admin", params: { roomId: param.raw } }, async ({ who, params }) => ({
      num_quarantined: await media.quarantineRoomMedia(roomParam(params.roomId), who.userId),
    }));
  }
  route({ method: "POST", path: "/_synapse/admin/v1/user/:userId/media/quarantine", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ who: r, request, params }) => {
    return { num_quarantined: await media.quarantineUserMedia(localUser(params.userId), r.userId) };
  });
  route({ method: "POST", path: "/_synapse/admin/v1/media/protect/:mediaId", api: "synapse-admin", access: "admin", params: { mediaId: param.raw } }, async ({ request, params }) => {
    await media.setProtected(params.mediaId, true);
    return {};
  });
  route({ method: "POST", path: "/_synapse/admin/v1/media/unprotect/:mediaId", api: "synapse-admin", access: "admin", params: { mediaId: param.raw } }, async ({ request, params }) => {
    await media.setProtected(params.mediaId, false);
    return {};
  });

  route({ method: "GET", path: "/_synapse/admin/v1/users/:userId/media", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ request, params, query }) => {
    const userId = localUser(params.userId);
    const from = queryInt(query, "from") ?? 0;
    const limit = queryInt(query, "limit") ?? 100;
    const orderBy = (query.order_by ?? "created_ts") as UserMediaOrder;
    if (!USER_MEDIA_ORDERS.includes(orderBy)) throw new MatrixError("M_INVALID_PARAM", `Unknown value for order_by: ${orderBy}`);
    const r = await media.listUserMedia(userId, { from, limit, orderBy, dir: dirParam(query) });
    return { media: r.media.map(userMediaJson), total: r.total, ...(from + r.media.length < r.total ? { next_token: from + r.media.length } : {}) };
  });

  route({ method: "DELETE", path: "/_synapse/admin/v1/users/:userId/media", api: "synapse-admin", access: "admin", params: { userId: param.raw } }, async ({ request, params }) => {
    const r = await media.deleteUserMedia(localUser(params.userId));
    return { deleted_media: r.deleted.map((k) => k.mediaId), total: r.deleted.length };
  });

  route({ method: "GET", path: "/_synapse/admin/v1/statistics/users/media", api: "synapse-admin", access: "admin" }, async ({ request, query }) => {
    const from = queryInt(query, "from") ?? 0;
    const limit = queryInt(query, "limit") ?? 100;
    const orderBy = query.order_by ?? "user_id";
    if (orderBy !== "user_id" && orderBy !== "media_length" && orderBy !== "media_count") {
      throw new MatrixError("M_INVALID_PARAM", "order_by must be one of user_id, media_length, media_count");
    }
    const r = await media.usageByUser({ from, limit, orderBy, dir: dirParam(query) });
    return {
      users: r.users.map((u) => ({ user_id: u.userId, displayname: null, media_count: u.mediaCount, media_length: u.mediaLength })),
      total: r.total,
      ...(from + r.users.length < r.total ? { next_token: from + r.users.length } : {}),
    };
  });
}
