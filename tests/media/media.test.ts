// The content repository over HTTP on both databases: uploads and byte-exact downloads, headers
// (types, disposition, security), limits, async uploads, ranges, thumbnails, the legacy freeze and
// the admin API.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import sharp from "sharp";
import { expectError, registerUser, TestClient } from "../helpers/client.ts";
import { assertMatchesSpec } from "../helpers/openapi.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

const MAX_UPLOAD = 256 * 1024;

/** Raw HTTP against the server (binary bodies), with the client's token unless `token` is null. */
async function raw(c: TestClient, method: string, path: string, opts: { body?: BodyInit; headers?: Record<string, string>; token?: string | null } = {}) {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? c.accessToken : opts.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(c.baseUrl + path, { method, headers, body: opts.body });
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
}

const json = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes));

async function upload(c: TestClient, body: Uint8Array<ArrayBuffer> | string, contentType?: string, filename?: string): Promise<string> {
  const q = filename !== undefined ? `?filename=${encodeURIComponent(filename)}` : "";
  const r = await raw(c, "POST", `/_matrix/media/v3/upload${q}`, { body, headers: contentType ? { "Content-Type": contentType } : {} });
  if (r.status !== 200) throw new Error(`upload → ${r.status} ${new TextDecoder().decode(r.bytes)}`);
  const b = json(r.bytes);
  assertMatchesSpec("client-server/content-repo", "POST", "/media/v3/upload", 200, b);
  return b.content_uri as string;
}

const pathOf = (mxc: string) => mxc.slice("mxc://".length);
const randomBytes = (n: number) => crypto.getRandomValues(new Uint8Array(n));

async function image(width: number, height: number, format: "png" | "jpeg"): Promise<Uint8Array<ArrayBuffer>> {
  // A gradient (not a flat colour) so that encoders cannot shrink it to nothing.
  const px = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) px.set([(x * 255) / width, (y * 255) / height, 128], (y * width + x) * 3);
  const img = sharp(px, { raw: { width, height, channels: 3 } });
  return Uint8Array.from(await (format === "png" ? img.png() : img.jpeg()).toBuffer());
}

async function animatedGif(width: number, height: number, frames: number): Promise<Uint8Array<ArrayBuffer>> {
  const parts: Buffer[] = [];
  for (let i = 0; i < frames; i++) {
    parts.push(await sharp({ create: { width, height, channels: 4, background: { r: (i * 80) % 255, g: 40 * i, b: 200 - 30 * i, alpha: 1 } } }).raw().toBuffer());
  }
  return Uint8Array.from(await sharp(Buffer.concat(parts), { raw: { width, height: height * frames, channels: 4, pageHeight: height } }).gif({ delay: frames > 0 ? new Array(frames).fill(100) : undefined, loop: 0 }).toBuffer());
}

describeOnBackends("media", (backend) => {
  const ctx = fixture<{ s: TestServer; alice: TestClient; bob: TestClient; admin: TestClient }>(async (ctx) => {
    ctx.s = await startTestServer({ backend, config: { media: { max_upload_size: MAX_UPLOAD, max_pending_uploads: 3 } } });
    [ctx.alice, ctx.bob, ctx.admin] = await Promise.all([registerUser(ctx.s, "alice"), registerUser(ctx.s, "bob"), registerUser(ctx.s, "admin", "password", true)]);
  });

  test("upload and download: the same bytes, type, file name, and the security headers", async () => {
    const bytes = randomBytes(100_000);
    const mxc = await upload(ctx.alice, bytes, "application/x-thing", "data file.bin");
    expect(mxc).toMatch(new RegExp(`^mxc://${ctx.s.serverName}/[A-Za-z0-9_-]+$`));
    const r = await raw(ctx.bob, "GET", `/_matrix/client/v1/media/download/${pathOf(mxc)}`);
    expect(r.status).toBe(200);
    expect(r.bytes).toEqual(bytes);
    expect(r.headers.get("content-type")).toBe("application/x-thing");
    expect(r.headers.get("content-disposition")).toBe('attachment; filename="data file.bin"');
    expect(r.headers.get("content-security-policy")).toContain("sandbox");
    expect(r.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    expect(r.headers.get("cross-origin-resource-policy")).toBe("cross-origin");
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    expect(r.headers.get("content-length")).toBe("100000");
    // The file name in the path overrides the uploaded one.
    const named = await raw(ctx.bob, "GET", `/_matrix/client/v1/media/download/${pathOf(mxc)}/other.bin`);
    expect(named.headers.get("content-disposition")).toBe('attachment; filename="other.bin"');
    expect(named.bytes).toEqual(bytes);
  });

  test("Content-Disposition: inline only for safe types; HTML is an attachment; no file name without one; UTF-8 names", async () => {
    const html = await upload(ctx.alice, "<script>alert(1)</script>", "text/html");
    const h = await raw(ctx.alice, "GET", `/_matrix/client/v1/media/download/${pathOf(html)}`);
    expect(h.headers.get("content-type")).toBe("text/html");
    expect(h.headers.get("content-disposition")).toBe("attachment");
    const png = await upload(ctx.alice, await image(10, 10, "png"), "image/png", "Grüße «x».png");
    const p = await raw(ctx.alice, "GET", `/_matrix/client/v1/media/download/${pathOf(png)}`);
    expect(p.headers.get("content-disposition")).toBe("inline; filename*=utf-8''Gr%C3%BC%C3%9Fe%20%C2%ABx%C2%BB.png");
    const svg = await upload(ctx.alice, "<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml");
    expect((await raw(ctx.alice, "GET", `/_matrix/client/v1/media/download/${pathOf(svg)}`)).headers.get("content-disposition")).toBe("attachment");
    const none = await upload(ctx.alice, "x");
    const n = await raw(ctx.alice, "GET", `/_matrix/client/v1/media/download/${pathOf(none)}`);
    expect(n.headers.get("content-type")).toBe("application/octet-stream");
  });

  test("identical uploads share one file on disk (content-addressed)", async () => {
    const bytes = randomBytes(5000);
    const a = await upload(ctx.alice, bytes, "application/octet-stream");
    const b = await upload(ctx.bob, bytes, "application/octet-stream");
    expect(a).not.toBe(b);
    const ra = await raw(ctx.alice, "GET", `/_matrix/client/v1/media/download/${pathOf(a)}`);
    const rb = await raw(ctx.alice, "GET", `/_matrix/client/v1/media/download/${pathOf(b)}`);
    expect(ra.headers.get("etag")).toBe(rb.headers.get("etag"));
    const sha = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
    expect(ra.headers.get("etag")).toBe(`"${sha}"`);
    expect(existsSync(`${ctx.s.config.media.store_path}/content/${sha.slice(0, 2)}/${sha.slice(2, 4)}/${sha}`)).toBe(true);
    // Deleting one keeps the file for the other; deleting both removes it.
    const del = (mxc: string) => ctx.admin.request("DELETE", `/_synapse/admin/v1/media/${pathOf(mxc)}`);
    expect((await del(a)).body).toEqual({ deleted_media: [pathOf(a).split("/")[1]], total: 1 });
    expect((await raw(ctx.alice, "GET", `/_matrix/client/v1/media/download/${pathOf(b)}`)).bytes).toEqual(bytes);
    expect((await raw(ctx.alice, "GET", `/_matrix/client/v1/media/download/${pathOf(a)}`)).status).toBe(404);
    await del(b);
    expect(existsSync(`${ctx.s.config.media.store_path}/content/${sha.slice(0, 2)}/${sha.slice(2, 4)}/${sha}`)).toBe(false);
  });

  test("authentication: the v1 endpoints need a token; uploads too", async () => {
    const mxc = await upload(ctx.alice, "hello", "text/plain");
    expectError(await ctx.alice.request("GET", `/_matrix/client/v1/media/download/${pathOf(mxc)}`, undefined, { Authorization: "Bearer nope" }), 401, "M_UNKNOWN_TOKEN");
    const r = await raw(ctx.alice, "GET", `/_matrix/client/v1/media/download/${pathOf(mxc)}`, { token: null });
    expect(r.status).toBe(401);
    expect(json(r.bytes).errcode).toBe("M_MISSING_TOKEN");
    const u = await raw(ctx.alice, "POST", "/_matrix/media/v3/upload", { body: "x", token: null });
    expect(json(u.bytes).errcode).toBe("M_MISSING_TOKEN");
  });

  test("legacy unauthenticated endpoints are frozen for media uploaded while enable_authenticated_media is on", async () => {
    const mxc = await upload(ctx.alice, "frozen", "text/plain");
    const r = await raw(ctx.alice, "GET", `/_matrix/media/v3/download/${pathOf(mxc)}`, { token: null });
    expect(r.status).toBe(404);
    expect(json(r.bytes).errcode).toBe("M_NOT_FOUND");
    expect((await raw(ctx.alice, "GET", `/_matrix/client/v1/media/download/${pathOf(mxc)}`)).status).toBe(200);
  });

  test("limits: max_upload_size → 413 M_TOO_LARGE (declared or streamed), /config says so", async () => {
    const c = await ctx.alice.get("/_matrix/client/v1/media/config");
    expect(c.body).toEqual({ "m.upload.size": MAX_UPLOAD });
    assertMatchesSpec("client-server/authed-content-repo", "GET", "/media/config", 200, c.body);
    expect((await ctx.alice.get("/_matrix/media/v3/config")).body).toEqual({ "m.upload.size": MAX_UPLOAD });
    const big = await raw(ctx.alice, "POST", "/_matrix/media/v3/upload", { body: randomBytes(MAX_UPLOAD + 1), headers: { "Content-Type": "application/octet-stream" } });
    expect(big.status).toBe(413);
    expect(json(big.bytes).errcode).toBe("M_TOO_LARGE");
    // Chunked (no Content-Length): counted while streaming.
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (sent > MAX_UPLOAD + 10_000) return ctrl.close();
        sent += 16_384;
        ctrl.enqueue(randomBytes(16_384));
      },
    });
    const chunked = await raw(ctx.alice, "POST", "/_matrix/media/v3/upload", { body: stream, headers: { "Content-Type": "application/octet-stream" } });
    expect(chunked.status).toBe(413);
    expect(json(chunked.bytes).errcode).toBe("M_TOO_LARGE");
    // Exactly the limit is fine; an empty upload too.
    const exact = randomBytes(MAX_UPLOAD);
    expect((await raw(ctx.alice, "GET", `/_matrix/client/v1/media/download/${pathOf(await upload(ctx.alice, exact))}`)).bytes).toEqual(exact);
    expect((await raw(ctx.alice, "GET", `/_matrix/client/v1/media/download/${pathOf(await upload(ctx.alice, new Uint8Array()))}`)).bytes.length).toBe(0);
  });

  test("bad input: invalid media IDs and server names, unknown media, bad thumbnail parameters", async () => {
    const mxc = await upload(ctx.alice, await image(100, 100, "png"), "image/png");
    expectError(await ctx.alice.get(`/_matrix/client/v1/media/download/${ctx.s.serverName}/no-such-media`), 404, "M_NOT_FOUND");
    expectError(await ctx.alice.get(`/_matrix/client/v1/media/download/${ctx.s.serverName}/bad.id`), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get(`/_matrix/client/v1/media/download/${ctx.s.serverName}/${encodeURIComponent("../../etc")}`), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get(`/_matrix/client/v1/media/download/${encodeURIComponent("bad server!")}/abc`), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get(`/_matrix/client/v1/media/thumbnail/${pathOf(mxc)}?height=10`), 400, "M_MISSING_PARAM");
    expectError(await ctx.alice.get(`/_matrix/client/v1/media/thumbnail/${pathOf(mxc)}?width=ten&height=10`), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get(`/_matrix/client/v1/media/thumbnail/${pathOf(mxc)}?width=-1&height=10`), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get(`/_matrix/client/v1/media/thumbnail/${pathOf(mxc)}?width=10&height=10&method=stretch`), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get(`/_matrix/client/v1/media/thumbnail/${pathOf(mxc)}?width=10&height=10&animated=yes`), 400, "M_INVALID_PARAM");
    // Not an image: thumbnails cannot be made.
    const text = await upload(ctx.alice, "plain", "text/plain");
    expectError(await ctx.alice.get(`/_matrix/client/v1/media/thumbnail/${pathOf(text)}?width=32&height=32`), 400, "M_UNKNOWN");
    // Claims to be a PNG but is not one.
    const fake = await upload(ctx.alice, "<svg xmlns='http://www.w3.org/2000/svg' width='999' height='999'/>", "image/png");
    expectError(await ctx.alice.get(`/_matrix/client/v1/media/thumbnail/${pathOf(fake)}?width=32&height=32`), 400, "M_UNKNOWN");
  });

  test("async upload: create, 504 while pending, PUT, then M_CANNOT_OVERWRITE_MEDIA; other users get 403", async () => {
    const created = await ctx.alice.post("/_matrix/media/v1/create", {});
    expect(created.status).toBe(200);
    assertMatchesSpec("client-server/content-repo", "POST", "/media/v1/create", 200, created.body);
    const { content_uri, unused_expires_at } = created.body;
    expect(unused_expires_at).toBeGreaterThan(Date.now() + 23 * 3600_000);
    const path = pathOf(content_uri);
    expectError(await ctx.alice.get(`/_matrix/client/v1/media/download/${path}?timeout_ms=50`), 504, "M_NOT_YET_UPLOADED");
    // A download waiting for the content gets it as soon as it is uploaded.
    const waiting = raw(ctx.bob, "GET", `/_matrix/client/v1/media/download/${path}?timeout_ms=10000`);
    const r403 = await raw(ctx.bob, "PUT", `/_matrix/media/v3/upload/${path}`, { body: "bob's", headers: { "Content-Type": "text/plain" } });
    expect(r403.status).toBe(403);
    expect(json(r403.bytes).errcode).toBe("M_FORBIDDEN");
    const put = await raw(ctx.alice, "PUT", `/_matrix/media/v3/upload/${path}?filename=late.txt`, { body: "the content", headers: { "Content-Type": "text/plain" } });
    expect(put.status).toBe(200);
    expect(json(put.bytes)).toEqual({});
    const got = await waiting;
    expect(got.status).toBe(200);
    expect(new TextDecoder().decode(got.bytes)).toBe("the content");
    expect(got.headers.get("content-disposition")).toBe('inline; filename="late.txt"');
    const again = await raw(ctx.alice, "PUT", `/_matrix/media/v3/upload/${path}`, { body: "again", headers: { "Content-Type": "text/plain" } });
    expect(again.status).toBe(409);
    expect(json(again.bytes).errcode).toBe("M_CANNOT_OVERWRITE_MEDIA");
    const unknown = await raw(ctx.alice, "PUT", `/_matrix/media/v3/upload/${ctx.s.serverName}/neverCreated`, { body: "x" });
    expect(unknown.status).toBe(404);
    expect(json(unknown.bytes).errcode).toBe("M_NOT_FOUND");
  });

  test("async upload: at most max_pending_uploads pending IDs per user (429), unused IDs expire", async () => {
    const carol = await registerUser(ctx.s, `carol_${backend}`);
    for (let i = 0; i < 3; i++) expect((await carol.post("/_matrix/media/v1/create", {})).status).toBe(200);
    const r = await carol.post("/_matrix/media/v1/create", {});
    expectError(r, 429, "M_LIMIT_EXCEEDED");
    expect(r.body.retry_after_ms).toBeGreaterThan(0);
    // Expiry: pretend a day has passed for the reservations, then run the retention job.
    await ctx.s.hs.db.run("UPDATE media SET unused_expires_ts = ? WHERE user_id = ? AND sha256 IS NULL", [Date.now() - 1, carol.userId!]);
    const created = (await carol.post("/_matrix/media/v1/create", {})).body.content_uri as string;
    await ctx.s.hs.db.run("UPDATE media SET unused_expires_ts = ? WHERE media_id = ?", [Date.now() - 1, pathOf(created).split("/")[1]!]);
    const put = await raw(carol, "PUT", `/_matrix/media/v3/upload/${pathOf(created)}`, { body: "late" });
    expect(put.status).toBe(404);
    expect((await ctx.s.hs.services.media.runRetention()).expiredPending).toBe(4);
    expectError(await carol.get(`/_matrix/client/v1/media/download/${pathOf(created)}`), 404, "M_NOT_FOUND");
  });

  test("range requests and conditional GETs", async () => {
    const bytes = randomBytes(10_000);
    const path = pathOf(await upload(ctx.alice, bytes, "video/mp4"));
    const url = `/_matrix/client/v1/media/download/${path}`;
    const full = await raw(ctx.alice, "GET", url);
    expect(full.headers.get("accept-ranges")).toBe("bytes");
    const r1 = await raw(ctx.alice, "GET", url, { headers: { Range: "bytes=100-199" } });
    expect(r1.status).toBe(206);
    expect(r1.headers.get("content-range")).toBe("bytes 100-199/10000");
    expect(r1.bytes).toEqual(bytes.slice(100, 200));
    const r2 = await raw(ctx.alice, "GET", url, { headers: { Range: "bytes=9990-" } });
    expect(r2.bytes).toEqual(bytes.slice(9990));
    const r3 = await raw(ctx.alice, "GET", url, { headers: { Range: "bytes=-5" } });
    expect(r3.headers.get("content-range")).toBe("bytes 9995-9999/10000");
    expect(r3.bytes).toEqual(bytes.slice(9995));
    const r4 = await raw(ctx.alice, "GET", url, { headers: { Range: "bytes=20000-" } });
    expect(r4.status).toBe(416);
    expect(r4.headers.get("content-range")).toBe("bytes */10000");
    // Several ranges are not supported: the whole file.
    const r5 = await raw(ctx.alice, "GET", url, { headers: { Range: "bytes=0-1,5-6" } });
    expect(r5.status).toBe(200);
    expect(r5.bytes.length).toBe(10_000);
    const etag = full.headers.get("etag")!;
    expect((await raw(ctx.alice, "GET", url, { headers: { "If-None-Match": etag } })).status).toBe(304);
    const stale = await raw(ctx.alice, "GET", url, { headers: { Range: "bytes=0-9", "If-Range": '"other"' } });
    expect(stale.status).toBe(200);
  });

  test("thumbnails: crop and scale dimensions, types, recommended sizes made at upload, no upscaling", async () => {
    const png = pathOf(await upload(ctx.alice, await image(1200, 800, "png"), "image/png"));
    const jpeg = pathOf(await upload(ctx.alice, await image(1200, 800, "jpeg"), "image/jpeg"));
    await ctx.s.hs.services.media.idle();
    const [, pngId] = png.split("/");
    const made = await ctx.s.hs.db.all<{ req_width: number; req_height: number; method: string }>("SELECT req_width, req_height, method FROM media_thumbnails WHERE media_id = ? ORDER BY req_width", [pngId!]);
    expect(made.map((t) => `${t.req_width}x${t.req_height} ${t.method}`)).toEqual(["32x32 crop", "96x96 crop", "320x240 scale", "640x480 scale", "800x600 scale"]);
    const thumb = async (path: string, q: string) => {
      const r = await raw(ctx.alice, "GET", `/_matrix/client/v1/media/thumbnail/${path}?${q}`);
      expect(r.status).toBe(200);
      const meta = await sharp(r.bytes).metadata();
      return { type: r.headers.get("content-type"), format: meta.format, width: meta.width, height: meta.height, headers: r.headers };
    };
    const c = await thumb(png, "width=96&height=96&method=crop");
    expect([c.type, c.format, c.width, c.height]).toEqual(["image/png", "png", 96, 96]);
    expect(c.headers.get("content-disposition")).toBe('inline; filename="thumbnail.png"');
    expect(c.headers.get("content-security-policy")).toContain("sandbox");
    const sc = await thumb(jpeg, "width=320&height=240&method=scale");
    expect([sc.type, sc.format, sc.width, sc.height]).toEqual(["image/jpeg", "jpeg", 320, 213]);
    // Between recommended sizes: the next larger one (never smaller than asked).
    const mid = await thumb(jpeg, "width=400&height=300&method=scale");
    expect([mid.width, mid.height]).toEqual([640, 427]);
    const small = await thumb(png, "width=20&height=20&method=crop");
    expect([small.width, small.height]).toEqual([32, 32]);
    // Legacy path, when media is not frozen, is tested in the legacy server below; here: frozen.
    expectError(await ctx.alice.get(`/_matrix/media/v3/thumbnail/${png}?width=32&height=32`), 404, "M_NOT_FOUND");
    // An image smaller than the request is served as it is.
    const tiny = await image(20, 10, "png");
    const t = await raw(ctx.alice, "GET", `/_matrix/client/v1/media/thumbnail/${pathOf(await upload(ctx.alice, tiny, "image/png"))}?width=96&height=96&method=scale`);
    expect(t.bytes).toEqual(tiny);
  });

  test("thumbnails: animated GIFs give animated WebP only when asked", async () => {
    const gif = pathOf(await upload(ctx.alice, await animatedGif(200, 100, 3), "image/gif"));
    const anim = await raw(ctx.alice, "GET", `/_matrix/client/v1/media/thumbnail/${gif}?width=96&height=96&method=crop&animated=true`);
    expect(anim.headers.get("content-type")).toBe("image/webp");
    const am = await sharp(anim.bytes, { animated: true }).metadata();
    expect([am.format, am.pages, am.width, am.pageHeight ?? am.height]).toEqual(["webp", 3, 96, 96]);
    for (const q of ["", "&animated=false"]) {
      const still = await raw(ctx.alice, "GET", `/_matrix/client/v1/media/thumbnail/${gif}?width=96&height=96&method=crop${q}`);
      expect(still.headers.get("content-type")).toBe("image/png");
      expect((await sharp(still.bytes).metadata()).pages ?? 1).toBe(1);
    }
    // A still JPEG with animated=true: a still thumbnail.
    const jpeg = pathOf(await upload(ctx.alice, await image(300, 300, "jpeg"), "image/jpeg"));
    expect((await raw(ctx.alice, "GET", `/_matrix/client/v1/media/thumbnail/${jpeg}?width=96&height=96&method=crop&animated=true`)).headers.get("content-type")).toBe("image/jpeg");
  });

  test("admin: the media a room refers to, listed and quarantined (images, thumbnails, avatars, redacted events)", async () => {
    const erin = await registerUser(ctx.s, `erin_${backend}`);
    const roomId = (await erin.ok("POST", "/_matrix/client/v3/createRoom", {})).room_id as string;
    const room = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`;
    const img = await upload(erin, await image(40, 40, "png"), "image/png");
    const thumb = await upload(erin, randomBytes(100), "image/png");
    const avatar = await upload(erin, randomBytes(200), "image/png");
    const gone = await upload(erin, randomBytes(300), "application/octet-stream");
    const elsewhere = "mxc://other.example.org/abcDEF123";
    await erin.ok("PUT", `${room}/send/m.room.message/i1`, { msgtype: "m.image", body: "pic", url: img, info: { thumbnail_url: thumb } });
    await erin.ok("PUT", `${room}/state/m.room.avatar`, { url: avatar });
    await erin.ok("PUT", `${room}/send/m.room.message/i2`, { msgtype: "m.file", body: "remote", url: elsewhere });
    const del = (await erin.ok("PUT", `${room}/send/m.room.message/i3`, { msgtype: "m.file", body: "oops", url: gone })).event_id;
    await erin.ok("PUT", `${room}/redact/${encodeURIComponent(del)}/r1`, {});

    expectError(await erin.request("GET", `/_synapse/admin/v1/room/${encodeURIComponent(roomId)}/media`), 403, "M_FORBIDDEN");
    const listed = (await ctx.admin.get(`/_synapse/admin/v1/room/${encodeURIComponent(roomId)}/media`)).body;
    expect([...listed.local].sort()).toEqual([img, thumb, avatar, gone].sort());
    expect(listed.remote).toEqual([elsewhere]);
    expectError(await ctx.admin.get(`/_synapse/admin/v1/room/${encodeURIComponent("!unknown:localhost")}/media`), 404, "M_NOT_FOUND");
    expectError(await ctx.admin.get(`/_synapse/admin/v1/room/not-a-room/media`), 400, "M_INVALID_PARAM");

    // The avatar is protected: everything else this server has is quarantined (the remote file it never fetched is not counted).
    await ctx.admin.request("POST", `/_synapse/admin/v1/media/protect/${pathOf(avatar).split("/")[1]}`, {});
    const q = await ctx.admin.request("POST", `/_synapse/admin/v1/room/${encodeURIComponent(roomId)}/media/quarantine`, {});
    expect(q.body).toEqual({ num_quarantined: 3 });
    for (const m of [img, thumb, gone]) expectError(await erin.get(`/_matrix/client/v1/media/download/${pathOf(m)}`), 404, "M_NOT_FOUND");
    expect((await raw(erin, "GET", `/_matrix/client/v1/media/download/${pathOf(avatar)}`)).status).toBe(200);
    // Again (and through the older path): nothing new.
    expect((await ctx.admin.request("POST", `/_synapse/admin/v1/quarantine_media/${encodeURIComponent(roomId)}`, {})).body).toEqual({ num_quarantined: 0 });
    await ctx.admin.request("POST", `/_synapse/admin/v1/media/unprotect/${pathOf(avatar).split("/")[1]}`, {});
  });

  test("admin: quarantine, protect, per-user listing, usage, deletion by user and by age", async () => {
    const dave = await registerUser(ctx.s, `dave_${backend}`);
    const m1 = pathOf(await upload(dave, randomBytes(1000), "application/octet-stream", "one"));
    const m2 = pathOf(await upload(dave, randomBytes(3000), "application/octet-stream", "two"));
    expectError(await dave.request("POST", `/_synapse/admin/v1/media/quarantine/${m1}`, {}), 403, "M_FORBIDDEN");
    expect((await ctx.admin.request("POST", `/_synapse/admin/v1/media/quarantine/${m1}`, {})).body).toEqual({});
    expectError(await dave.get(`/_matrix/client/v1/media/download/${m1}`), 404, "M_NOT_FOUND");
    expect((await ctx.admin.request("POST", `/_synapse/admin/v1/media/unquarantine/${m1}`, {})).body).toEqual({});
    expect((await raw(dave, "GET", `/_matrix/client/v1/media/download/${m1}`)).status).toBe(200);
    // Protected media is safe from quarantine.
    await ctx.admin.request("POST", `/_synapse/admin/v1/media/protect/${m2.split("/")[1]}`, {});
    expect((await ctx.admin.request("POST", `/_synapse/admin/v1/user/${encodeURIComponent(dave.userId!)}/media/quarantine`, {})).body).toEqual({ num_quarantined: 1 });
    expect((await raw(dave, "GET", `/_matrix/client/v1/media/download/${m2}`)).status).toBe(200);
    expectError(await dave.get(`/_matrix/client/v1/media/download/${m1}`), 404, "M_NOT_FOUND");
    const info = await ctx.admin.get(`/_synapse/admin/v1/media/${m1}`);
    expect(info.body.media_info).toMatchObject({ media_origin: ctx.s.serverName, user_id: dave.userId, media_length: 1000, quarantined_by: ctx.admin.userId, upload_name: "one" });
    const list = await ctx.admin.get(`/_synapse/admin/v1/users/${encodeURIComponent(dave.userId!)}/media?order_by=media_length&dir=b`);
    expect(list.body.total).toBe(2);
    expect(list.body.media.map((m: any) => m.media_length)).toEqual([3000, 1000]);
    const usage = await ctx.admin.get("/_synapse/admin/v1/statistics/users/media?order_by=media_length&dir=b&limit=100");
    expect(usage.body.users.find((u: any) => u.user_id === dave.userId)).toEqual({ user_id: dave.userId, displayname: null, media_count: 2, media_length: 4000 });
    expectError(await ctx.admin.request("POST", "/_synapse/admin/v1/media/delete"), 400, "M_MISSING_PARAM");
    // By age (this deletes other tests' larger media too: this test runs last): protected media is kept.
    const byAge = await ctx.admin.request("POST", `/_synapse/admin/v1/media/delete?before_ts=${Date.now() + 60_000}&size_gt=2000`);
    expect(byAge.body.total).toBe(byAge.body.deleted_media.length);
    expect(byAge.body.deleted_media).not.toContain(m2.split("/")[1]);
    expect(byAge.body.deleted_media).not.toContain(m1.split("/")[1]); // 1000 bytes: not > size_gt
    await ctx.admin.request("POST", `/_synapse/admin/v1/media/unprotect/${m2.split("/")[1]}`, {});
    const byAge2 = await ctx.admin.request("POST", `/_synapse/admin/v1/media/delete?before_ts=${Date.now() + 60_000}&size_gt=2000`);
    expect(byAge2.body.deleted_media).toContain(m2.split("/")[1]);
    const byUser = await ctx.admin.request("DELETE", `/_synapse/admin/v1/users/${encodeURIComponent(dave.userId!)}/media`);
    expect(byUser.body).toEqual({ deleted_media: [m1.split("/")[1]], total: 1 });
    expect((await ctx.admin.get(`/_synapse/admin/v1/users/${encodeURIComponent(dave.userId!)}/media`)).body.total).toBe(0);
  });
});

/** A PNG whose header claims `w`×`h` pixels, with next to no data: a decompression bomb's header. */
function bombPng(w: number, h: number): Uint8Array<ArrayBuffer> {
  const chunk = (type: string, data: Uint8Array) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(Bun.hash.crc32(body) >>> 0);
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Uint8Array.from(Buffer.concat([sig, chunk("IHDR", ihdr), chunk("IDAT", new Uint8Array([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])), chunk("IEND", new Uint8Array())]));
}

describe("media: legacy endpoints when not frozen (enable_authenticated_media = false); pixel limit", () => {
  let s: TestServer;
  let alice: TestClient;
  beforeAll(async () => {
    s = await startTestServer({ config: { media: { enable_authenticated_media: false, max_image_pixels: 150_000 } } });
    alice = await registerUser(s, "alice");
  });
  afterAll(() => s.stop());

  test("downloads and thumbnails without a token, with public caching", async () => {
    const bytes = await image(400, 300, "png");
    const path = pathOf(await upload(alice, bytes, "image/png", "pic.png"));
    const d = await raw(alice, "GET", `/_matrix/media/v3/download/${path}`, { token: null });
    expect(d.status).toBe(200);
    expect(d.bytes).toEqual(bytes);
    expect(d.headers.get("content-disposition")).toBe('inline; filename="pic.png"');
    expect(d.headers.get("cache-control")).toContain("public");
    expect(d.headers.get("content-security-policy")).toContain("sandbox");
    const t = await raw(alice, "GET", `/_matrix/media/r0/thumbnail/${path}?width=32&height=32&method=crop`, { token: null });
    expect(t.status).toBe(200);
    expect(await sharp(t.bytes).metadata()).toMatchObject({ width: 32, height: 32, format: "png" });
    // More pixels than max_image_pixels: 413 M_TOO_LARGE, nothing decoded (a 30000x30000 header, 60 bytes of file).
    const bomb = pathOf(await upload(alice, bombPng(30000, 30000), "image/png"));
    expectError(await alice.get(`/_matrix/client/v1/media/thumbnail/${bomb}?width=32&height=32`), 413, "M_TOO_LARGE");
    const over = pathOf(await upload(alice, await image(500, 400, "png"), "image/png"));
    expectError(await alice.get(`/_matrix/client/v1/media/thumbnail/${over}?width=32&height=32`), 413, "M_TOO_LARGE");
    // allow_remote=false for media of another server that is not cached: 404 without trying.
    const remote = await raw(alice, "GET", "/_matrix/media/v3/download/other.example/abc?allow_remote=false", { token: null });
    expect(remote.status).toBe(404);
  });
});
