// Remote media between two hs servers (both databases): downloads and thumbnails of the other
// server's media through our own, cached locally; the federation endpoints themselves; and a fake
// remote server to check the `Location` redirect, the legacy fallback for servers older than
// Matrix 1.11, and the size limit on remote files.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import type { Server } from "bun";
import sharp from "sharp";
import { expectError, registerUser, TestClient } from "../helpers/client.ts";
import { startFederatingServers, testCertificate, type FederatingServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

async function raw(c: TestClient, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(c.baseUrl + path, { headers: { Authorization: `Bearer ${c.accessToken}`, ...headers } });
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
}

async function upload(c: TestClient, body: Uint8Array<ArrayBuffer> | string, contentType: string, filename?: string): Promise<string> {
  const q = filename ? `?filename=${encodeURIComponent(filename)}` : "";
  const r = await c.request("POST", `/_matrix/media/v3/upload${q}`, body, { "Content-Type": contentType });
  if (r.status !== 200) throw new Error(`upload → ${r.status} ${JSON.stringify(r.body)}`);
  return (r.body.content_uri as string).slice("mxc://".length);
}

const randomBytes = (n: number) => crypto.getRandomValues(new Uint8Array(n));

/**
 * A remote "server" answering only media requests: it needs no keys (it never checks our
 * signatures) and is reached like any server named localhost:<port>, over TLS with the test certificate.
 */
function fakeRemote(routes: (url: URL, port: number) => Response | undefined): { server: Server<undefined>; name: string; seen: URL[] } {
  const cert = testCertificate();
  const seen: URL[] = [];
  const server: Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: readFileSync(cert.certPath, "utf8"), key: readFileSync(cert.keyPath, "utf8") },
    fetch(req) {
      const url = new URL(req.url);
      seen.push(url);
      return routes(url, server.port!) ?? Response.json({ errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }, { status: 404 });
    },
  });
  return { server, name: `localhost:${server.port}`, seen };
}

function multipart(boundary: string, partHeaders: string, body: Uint8Array | string): Uint8Array<ArrayBuffer> {
  const enc = new TextEncoder();
  const bytes = typeof body === "string" ? enc.encode(body) : body;
  return Uint8Array.from(
    Buffer.concat([enc.encode(`--${boundary}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${boundary}\r\n${partHeaders}\r\n\r\n`), bytes, enc.encode(`\r\n--${boundary}--\r\n`)]),
  );
}

describeOnBackends("remote media", (backend) => {
  const ctx = fixture<{
    hs1: FederatingServer;
    hs2: FederatingServer;
    alice: TestClient; // on hs1
    bob: TestClient; // on hs2
  }>(async (ctx) => {
    [ctx.hs1, ctx.hs2] = (await startFederatingServers(2, { backend, config: (i) => (i === 1 ? { media: { max_upload_size: 1 << 20 } } : {}) })) as [FederatingServer, FederatingServer];
    [ctx.alice, ctx.bob] = await Promise.all([registerUser(ctx.hs1, "alice"), registerUser(ctx.hs2, "bob")]);
  }, { timeout: 60000 });

  test("bob downloads alice's media through his server: same bytes, type and file name; then from the cache", async () => {
    const bytes = randomBytes(300_000);
    const path = await upload(ctx.alice, bytes, "application/pdf", "report final.pdf");
    const r = await raw(ctx.bob, `/_matrix/client/v1/media/download/${path}`);
    expect(r.status).toBe(200);
    expect(r.bytes).toEqual(bytes);
    expect(r.headers.get("content-type")).toBe("application/pdf");
    expect(r.headers.get("content-disposition")).toBe('attachment; filename="report final.pdf"');
    expect(r.headers.get("content-security-policy")).toContain("sandbox");
    const [origin, mediaId] = path.split("/");
    const cached = await ctx.hs2.hs.db.get<{ size: number; authenticated: number }>("SELECT size, authenticated FROM media WHERE origin = ? AND media_id = ?", [origin!, mediaId!]);
    expect(Number(cached?.size)).toBe(300_000);
    // Served from hs2's cache: even with alice's copy gone from hs1.
    await ctx.hs1.hs.services.media.deleteMedia([{ origin: origin!, mediaId: mediaId! }]);
    expect((await raw(ctx.bob, `/_matrix/client/v1/media/download/${path}`)).bytes).toEqual(bytes);
    expectError(await ctx.alice.get(`/_matrix/client/v1/media/download/${path}`), 404, "M_NOT_FOUND");
    // Ranges work on cached remote media too.
    const part = await raw(ctx.bob, `/_matrix/client/v1/media/download/${path}`, { Range: "bytes=10-19" });
    expect(part.status).toBe(206);
    expect(part.bytes).toEqual(bytes.slice(10, 20));
  });

  test("thumbnails of remote images are made locally from the fetched original", async () => {
    const img = Uint8Array.from(await sharp({ create: { width: 640, height: 480, channels: 3, background: "#3366cc" } }).jpeg().toBuffer());
    const path = await upload(ctx.alice, img, "image/jpeg");
    const t = await raw(ctx.bob, `/_matrix/client/v1/media/thumbnail/${path}?width=96&height=96&method=crop`);
    expect(t.status).toBe(200);
    expect(t.headers.get("content-type")).toBe("image/jpeg");
    expect(await sharp(t.bytes).metadata()).toMatchObject({ width: 96, height: 96, format: "jpeg" });
  });

  test("unknown remote media is 404; the federation endpoints need a signed request", async () => {
    expectError(await ctx.bob.get(`/_matrix/client/v1/media/download/${ctx.hs1.serverName}/doesNotExist`), 404, "M_NOT_FOUND");
    const path = await upload(ctx.alice, "x", "text/plain");
    const unsigned = await fetch(`${ctx.hs1.federationUrl}/_matrix/federation/v1/media/download/${path.split("/")[1]}`, { tls: { rejectUnauthorized: false } } as RequestInit);
    expect(unsigned.status).toBe(401);
    expect((await unsigned.json()).errcode).toBe("M_UNAUTHORIZED");
  });

  test("the federation endpoint answers multipart/mixed (JSON part, then the file)", async () => {
    const path = await upload(ctx.alice, "hello over federation", "text/plain", "hi.txt");
    const mediaId = path.split("/")[1]!;
    const res = await ctx.hs2.hs.services.federation.client.open({ destination: ctx.hs1.serverName, method: "GET", path: `/_matrix/federation/v1/media/download/${mediaId}` });
    expect(res.status).toBe(200);
    const ct = res.headers.get("content-type")!;
    expect(ct).toMatch(/^multipart\/mixed; boundary=/);
    const text = await res.text();
    const boundary = ct.split("boundary=")[1]!;
    const parts = text.split(`--${boundary}`);
    expect(parts[1]).toBe("\r\nContent-Type: application/json\r\n\r\n{}\r\n");
    expect(parts[2]).toBe('\r\nContent-Type: text/plain\r\nContent-Disposition: inline; filename="hi.txt"\r\n\r\nhello over federation\r\n');
    expect(parts[3]).toBe("--\r\n");
    // Thumbnails the same way.
    const img = Uint8Array.from(await sharp({ create: { width: 300, height: 200, channels: 3, background: "#000" } }).png().toBuffer());
    const imgId = (await upload(ctx.alice, img, "image/png")).split("/")[1]!;
    const tr = await ctx.hs2.hs.services.federation.client.open({
      destination: ctx.hs1.serverName,
      method: "GET",
      path: `/_matrix/federation/v1/media/thumbnail/${imgId}`,
      query: { width: 32, height: 32, method: "crop" },
    });
    expect(tr.status).toBe(200);
    expect(tr.headers.get("content-type")).toMatch(/^multipart\/mixed; boundary=/);
    expect(await tr.text()).toContain("Content-Type: image/png");
  });

  describe("a fake remote server", () => {
    const cdnBytes = randomBytes(50_000);
    const oldBytes = randomBytes(20_000);
    let fake: ReturnType<typeof fakeRemote>;
    beforeAll(() => {
      fake = fakeRemote((url, port) => {
        const p = decodeURIComponent(url.pathname);
        if (p === "/_matrix/federation/v1/media/download/viaLocation") {
          return new Response(multipart("b0und", `Location: https://localhost:${port}/cdn/file`, ""), { headers: { "Content-Type": "multipart/mixed; boundary=b0und" } });
        }
        if (p === "/cdn/file") return new Response(cdnBytes, { headers: { "Content-Type": "image/webp", "Content-Disposition": 'inline; filename="from-cdn.webp"' } });
        if (p === `/_matrix/media/v3/download/localhost:${port}/oldMedia`) {
          if (url.searchParams.get("allow_remote") !== "false") return Response.json({ errcode: "M_FORBIDDEN" }, { status: 403 });
          return new Response(oldBytes, { headers: { "Content-Type": "audio/ogg", "Content-Disposition": "attachment; filename*=utf-8''caf%C3%A9.ogg" } });
        }
        if (p === "/_matrix/federation/v1/media/download/huge") {
          return new Response(multipart("b", "Content-Type: application/octet-stream", randomBytes((1 << 20) + 10)), { headers: { "Content-Type": "multipart/mixed; boundary=b" } });
        }
        if (p === "/_matrix/federation/v1/media/download/garbage") return new Response("not multipart", { headers: { "Content-Type": "text/plain" } });
        if (p === "/_matrix/federation/v1/media/download/pending") return Response.json({ errcode: "M_NOT_YET_UPLOADED", error: "later" }, { status: 504 });
        return undefined;
      });
    });
    afterAll(() => fake.server.stop(true));

    test("multipart answer with a Location: the file is fetched from there", async () => {
      const r = await raw(ctx.bob, `/_matrix/client/v1/media/download/${fake.name}/viaLocation`);
      expect(r.status).toBe(200);
      expect(r.bytes).toEqual(cdnBytes);
      expect(r.headers.get("content-type")).toBe("image/webp");
      expect(r.headers.get("content-disposition")).toBe('inline; filename="from-cdn.webp"');
    });

    test("a server without the federation media endpoints: the legacy endpoint with allow_remote=false", async () => {
      const r = await raw(ctx.bob, `/_matrix/client/v1/media/download/${fake.name}/oldMedia`);
      expect(r.status).toBe(200);
      expect(r.bytes).toEqual(oldBytes);
      expect(r.headers.get("content-type")).toBe("audio/ogg");
      expect(r.headers.get("content-disposition")).toBe("inline; filename*=utf-8''caf%C3%A9.ogg");
      expect(fake.seen.some((u) => u.pathname === "/_matrix/federation/v1/media/download/oldMedia")).toBe(true);
    });

    test("errors: too large (502 M_TOO_LARGE), not multipart (502), not yet uploaded (504), unknown (404)", async () => {
      expectError(await ctx.bob.get(`/_matrix/client/v1/media/download/${fake.name}/huge`), 502, "M_TOO_LARGE");
      expectError(await ctx.bob.get(`/_matrix/client/v1/media/download/${fake.name}/garbage`), 502, "M_UNKNOWN");
      expectError(await ctx.bob.get(`/_matrix/client/v1/media/download/${fake.name}/pending`), 504, "M_NOT_YET_UPLOADED");
      expectError(await ctx.bob.get(`/_matrix/client/v1/media/download/${fake.name}/nothing`), 404, "M_NOT_FOUND");
      // Nothing was cached for the failures; no file was left behind.
      const rows = await ctx.hs2.hs.db.all("SELECT media_id FROM media WHERE origin = ?", [fake.name]);
      expect(rows.map((r: any) => r.media_id).sort()).toEqual(["oldMedia", "viaLocation"]);
      expect(readdirSync(`${ctx.hs2.config.media.store_path}/tmp`)).toEqual([]);
    });
  });
});
