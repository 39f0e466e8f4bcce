// GET /_matrix/federation/v1/media/download/{mediaId} and /thumbnail/{mediaId}
// (server-server content_repository.yaml): our own media for other servers, as multipart/mixed —
// a JSON metadata part (`{}`), then the file with its Content-Type and Content-Disposition.
// Only media that originated here is served (never media cached from a third server).
import type { Services } from "../../services/index.ts";
import type { MediaFile } from "../../services/media/media.ts";
import { federationMultipart } from "../../services/media/multipart.ts";
import { randomString } from "../../util/random.ts";
import { CORS_HEADERS, type App } from "../app.ts";
import { contentDisposition, dispositionFor, thumbnailParams } from "../client/media.ts";
import { intQuery, queryOf } from "../client/query-params.ts";
import { routes } from "../endpoint.ts";
import { param } from "../schema.ts";

function multipartResponse(file: MediaFile, disposition: string): Response {
  const body = federationMultipart(randomString(32), { "Content-Type": file.contentType, "Content-Disposition": disposition }, file.content);
  return new Response(body.stream, {
    status: 200,
    headers: { ...CORS_HEADERS, "Content-Type": body.contentType, "Content-Length": String(body.length) },
  });
}

export function federationMediaRoutes(app: App, svc: Services): void {
  const route = routes(app, svc);
  route({ method: "GET", path: "/_matrix/federation/v1/media/download/:mediaId", api: "server-server", access: "server", params: { mediaId: param.raw } }, async ({ request, params }) => {
    const q = queryOf(request);
    const file = await svc.media.downloadForFederation(params.mediaId, intQuery(q, "timeout_ms", 0));
    return multipartResponse(file, dispositionFor(file.contentType, file.uploadName));
  });

  route({ method: "GET", path: "/_matrix/federation/v1/media/thumbnail/:mediaId", api: "server-server", access: "server", params: { mediaId: param.raw } }, async ({ request, params }) => {
    const q = queryOf(request);
    const t = await svc.media.thumbnail({
      serverName: svc.config.server_name,
      mediaId: params.mediaId,
      ...thumbnailParams(q),
      allowRemote: false,
      timeoutMs: intQuery(q, "timeout_ms", 0),
    });
    const ext = t.contentType.split("/")[1]?.split(";")[0] ?? "bin";
    return multipartResponse(t, contentDisposition("inline", t.kind === "thumbnail" ? `thumbnail.${ext}` : t.uploadName));
  });
}
