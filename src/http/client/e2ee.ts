// End-to-end encryption endpoints of the Client-Server API:
//   POST /keys/upload, POST /keys/query, POST /keys/claim, GET /keys/changes          (keys.yaml)
//   POST /keys/device_signing/upload, POST /keys/signatures/upload           (cross_signing.yaml)
//   PUT /sendToDevice/{eventType}/{txnId}                                        (to_device.yaml)
//   GET|PUT|DELETE /unstable/org.matrix.msc3814.v1/dehydrated_device, POST .../{deviceId}/events
//                                                                  (MSC3814 dehydrated devices)
// Spec: client-server-api modules/end_to_end_encryption.md, send_to_device.md; guests may use
// upload, query, claim and sendToDevice (guest_access.md).
import { MatrixError } from "../../protocol/errors.ts";
import { LOGIN_TYPE_PASSWORD } from "../../protocol/uia.ts";
import type { Services } from "../../services/index.ts";
import { decodeStreamToken } from "../../services/rooms/tokens.ts";
import type { App } from "../app.ts";
import { authenticate, connectionOf } from "../auth.ts";
import { jsonBody, withoutAuth } from "../params.ts";

const PREFIXES = ["/_matrix/client/v3"];

function pathParam(v: string | undefined, what: string): string {
  if (!v) throw new MatrixError("M_INVALID_PARAM", `Missing ${what}`);
  if (v.length > 255) throw new MatrixError("M_INVALID_PARAM", `${what} too long`);
  return v;
}

export function e2eeRoutes(app: App, svc: Services): void {
  const keys = () => svc.e2ee.keys;
  for (const p of PREFIXES) {
    app.post(`${p}/keys/upload`, async ({ request, body }) => {
      const who = await authenticate(svc, request);
      return keys().upload(who.userId, who.deviceId, jsonBody(body));
    });

    app.post(`${p}/keys/query`, async ({ request, body }) => {
      const who = await authenticate(svc, request);
      return keys().query(who.userId, jsonBody(body));
    });

    app.post(`${p}/keys/claim`, async ({ request, body }) => {
      await authenticate(svc, request);
      return keys().claim(jsonBody(body));
    });

    app.get(`${p}/keys/changes`, async ({ request }) => {
      const who = await authenticate(svc, request);
      const q = new URL(request.url).searchParams;
      const from = q.get("from");
      if (!from) throw new MatrixError("M_MISSING_PARAM", "Missing 'from'");
      const to = q.get("to");
      const fromPos = decodeStreamToken(from).stream;
      // `to` is a hint (spec); a token past what exists is read as now.
      const toPos = Math.min(to ? decodeStreamToken(to).stream : svc.streams.current(), svc.streams.current());
      return svc.e2ee.deviceLists.changesFor(who.userId, fromPos, toPos);
    });

    app.post(`${p}/keys/device_signing/upload`, async ({ request, body }) => {
      const who = await authenticate(svc, request);
      const b = jsonBody(body);
      let params = withoutAuth(b);
      if (await keys().crossSigningUploadNeedsAuth(who.userId, params)) {
        const outcome = await svc.uia.authenticate(b.auth, {
          flows: [{ stages: [LOGIN_TYPE_PASSWORD] }],
          method: "POST",
          uri: `${p}/keys/device_signing/upload`,
          userId: who.userId,
          clientDict: params,
          ip: connectionOf(request).ip,
        });
        params = outcome.clientDict;
        await keys().uploadCrossSigningKeys(who.userId, params);
        await svc.uia.finish(outcome.sessionId);
        return {};
      }
      await keys().uploadCrossSigningKeys(who.userId, params);
      return {};
    });

    app.post(`${p}/keys/signatures/upload`, async ({ request, body }) => {
      const who = await authenticate(svc, request);
      return keys().uploadSignatures(who.userId, jsonBody(body));
    });

    app.put(`${p}/sendToDevice/:eventType/:txnId`, async ({ request, params, body }) => {
      const who = await authenticate(svc, request);
      const type = pathParam(params.eventType, "event type");
      const txnId = pathParam(params.txnId, "transaction ID");
      await svc.e2ee.toDevice.send(who.userId, who.deviceId, type, txnId, jsonBody(body));
      return {};
    });
  }

  // Dehydrated devices (MSC3814), under the unstable prefix clients use; advertised in /versions.
  const dehydrated = () => svc.e2ee.dehydrated;
  const DEHYDRATION = `/_matrix/client/unstable/${DEHYDRATION_FEATURE}.v1/dehydrated_device`;
  app.get(DEHYDRATION, async ({ request }) => dehydrated().get((await authenticate(svc, request)).userId));
  app.put(DEHYDRATION, async ({ request, body }) => dehydrated().put((await authenticate(svc, request)).userId, jsonBody(body)));
  app.delete(DEHYDRATION, async ({ request }) => dehydrated().delete((await authenticate(svc, request)).userId));
  app.post(`${DEHYDRATION}/:deviceId/events`, async ({ request, params, body }) => {
    const who = await authenticate(svc, request);
    return dehydrated().events(who.userId, pathParam(params.deviceId, "device ID"), jsonBody(body).next_batch);
  });
}

/** The unstable feature flag of dehydrated devices in /versions. */
export const DEHYDRATION_FEATURE = "org.matrix.msc3814";
