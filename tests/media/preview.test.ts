// URL previews over HTTP (both databases): a page served by the test itself on loopback
// (127.0.0.2, allowed by a relaxed deny list that still denies 127.0.0.0/31 where the homeserver
// and a "secret" server listen), and the SSRF defences: redirects to a denied address, names that
// resolve to denied addresses (fake DNS: no real lookups), DNS rebinding between page and image,
// url_denylist, size and time limits. With the default deny list loopback and 10.x are refused.
import { expect, test } from "bun:test";
import type { Server } from "bun";
import sharp from "sharp";
import { DEFAULT_IP_RANGE_DENYLIST } from "../../src/config/schema.ts";
import { expectError, registerUser, TestClient } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { describeOnBackends, fixture } from "../helpers/suite.ts";

const PAGE_HOST = "127.0.0.2";
/** The default deny list, except that 127.0.0.2 (the test's page server) may be reached. */
const RELAXED = [...DEFAULT_IP_RANGE_DENYLIST.filter((r) => r !== "127.0.0.0/8"), "127.0.0.0/31", "127.0.0.3/32", "127.0.0.4/30", "127.0.0.8/29", "127.0.1.0/24"];

const enc = encodeURIComponent;
const preview = (c: TestClient, url: string) => c.get(`/_matrix/client/v1/media/preview_url?url=${enc(url)}`);

interface Site {
  server: Server<undefined>;
  base: string;
  port: number;
  hits: Map<string, number>;
  hosts: string[];
}

function startSite(hostname: string, port: number, routes: (url: URL, port: number) => Response | Promise<Response> | undefined): Site {
  const hits = new Map<string, number>();
  const hosts: string[] = [];
  const server: Server<undefined> = Bun.serve({
    hostname,
    port,
    fetch(req) {
      const url = new URL(req.url);
      hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
      hosts.push(req.headers.get("host") ?? "");
      return routes(url, server.port!) ?? new Response("not found", { status: 404 });
    },
  });
  return { server, base: `http://${hostname}:${server.port}`, port: server.port!, hits, hosts };
}

describeOnBackends("URL previews", (backend) => {
  const ctx = fixture<{
    s: TestServer;
    alice: TestClient;
    site: Site;
    secret: Site; // on 127.0.0.1, same port: must never be reached
    png: Uint8Array<ArrayBuffer>;
  }>(async (ctx) => {
    ctx.png = Uint8Array.from(await sharp({ create: { width: 120, height: 80, channels: 3, background: "#c03" } }).png().toBuffer());
    const page = (title: string, image: string) =>
      new Response(
        `<!doctype html><html><head><title>${title}</title><meta property="og:description" content="A page &amp; its image">` +
          `<meta property="og:image" content="${image}"></head><body><p>hello</p></body></html>`,
        { headers: { "Content-Type": "text/html; charset=utf-8" } },
      );
    const routes = (url: URL, port: number): Response | Promise<Response> | undefined => {
      switch (url.pathname) {
        case "/page.html":
          return page("Test page", "/img.png");
        case "/img.png":
          return new Response(ctx.png, { headers: { "Content-Type": "image/png" } });
        case "/direct.png":
          return new Response(ctx.png, { headers: { "Content-Type": "image/png" } });
        case "/doc.pdf":
          return new Response("%PDF-1.4", { headers: { "Content-Type": "application/pdf" } });
        case "/to-loopback":
          return Response.redirect(`http://127.0.0.1:${port}/secret`, 302);
        case "/to-internal-name":
          return Response.redirect(`http://internal.test:${port}/secret`, 301);
        case "/to-page":
          return Response.redirect(`/page.html`, 307);
        case "/rebind.html":
          return page("Rebinding", `http://rebind.test:${port}/img.png`);
        case "/huge.html":
          return new Response(`<html><head><title>Big</title></head><body>${"x".repeat(200_000)}</body></html>`, { headers: { "Content-Type": "text/html" } });
        case "/big-image.html":
          return page("Big image", "/big.png");
        case "/big.png":
          return new Response(new Uint8Array(300_000), { headers: { "Content-Type": "image/png" } });
        case "/slow":
          return new Promise<Response>(() => {}); // never answers
        case "/error":
          return new Response("no", { status: 500 });
      }
      return undefined;
    };
    // The page server on 127.0.0.2 and the "secret" one on 127.0.0.1 share a port (so that a
    // rebinding to 127.0.0.1 would land on it); retry when another process holds that port.
    for (let attempt = 0; ; attempt++) {
      ctx.site = startSite(PAGE_HOST, 0, routes);
      try {
        ctx.secret = startSite("127.0.0.1", ctx.site.port, () => new Response("secret"));
        break;
      } catch (e) {
        ctx.site.server.stop(true);
        if (attempt >= 10) throw e;
      }
    }
    ctx.s = await startTestServer({
      backend,
      config: { url_preview: { enabled: true, ip_range_denylist: RELAXED, url_denylist: ["*.blocked.test", "^https?://[^/]+/private/"], max_page_size: 100_000, timeout: 1 } },
    });
    ctx.alice = await registerUser(ctx.s, "alice");
    let rebindAnswers = 0;
    ctx.s.hs.services.urlPreviews.lookup = async (host) => {
      if (host === "pages.test") return [PAGE_HOST];
      if (host === "internal.test") return ["127.0.0.1"];
      if (host === "mixed.test") return [PAGE_HOST, "10.1.2.3"];
      if (host === "rebind.test") return rebindAnswers++ === 0 ? [PAGE_HOST] : ["127.0.0.1"];
      if (host === "sub.blocked.test") return [PAGE_HOST];
      throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    };
  }, { teardown: (ctx) => {
    ctx.site.server.stop(true);
    ctx.secret.server.stop(true);
  } });

  test("a page: title, description, og:image stored as local media with its type, size and dimensions", async () => {
    const r = await preview(ctx.alice, `${ctx.site.base}/page.html`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      "og:title": "Test page",
      "og:description": "A page & its image",
      "og:image:type": "image/png",
      "matrix:image:size": ctx.png.byteLength,
      "og:image:width": 120,
      "og:image:height": 80,
    });
    expect(r.body["og:image"]).toMatch(new RegExp(`^mxc://${ctx.s.serverName}/`));
    const img = await fetch(`${ctx.s.url}/_matrix/client/v1/media/download/${r.body["og:image"].slice(6)}`, { headers: { Authorization: `Bearer ${ctx.alice.accessToken}` } });
    expect(new Uint8Array(await img.arrayBuffer())).toEqual(ctx.png);
    // Cached: the page is not fetched again (the legacy path shares the cache).
    const before = ctx.site.hits.get("/page.html");
    const again = await ctx.alice.get(`/_matrix/media/v3/preview_url?url=${enc(`${ctx.site.base}/page.html`)}&ts=${Date.now()}`);
    expect(again.body).toEqual(r.body);
    expect(ctx.site.hits.get("/page.html")).toBe(before!);
  });

  test("host names resolve through the (fake) lookup; the Host header names the host; redirects within allowed addresses are followed", async () => {
    const r = await preview(ctx.alice, `http://pages.test:${ctx.site.port}/to-page`);
    expect(r.body["og:title"]).toBe("Test page");
    expect(ctx.site.hosts).toContain(`pages.test:${ctx.site.port}`);
  });

  test("a direct image URL and a non-HTML document", async () => {
    const img = await preview(ctx.alice, `${ctx.site.base}/direct.png`);
    expect(img.body).toMatchObject({ "og:image:type": "image/png", "matrix:image:size": ctx.png.byteLength, "og:image:width": 120 });
    expect((await preview(ctx.alice, `${ctx.site.base}/doc.pdf`)).body).toEqual({});
  });

  test("SSRF: a redirect to 127.0.0.1, or to a name resolving to it, is refused before connecting", async () => {
    expectError(await preview(ctx.alice, `${ctx.site.base}/to-loopback`), 403, "M_FORBIDDEN");
    expectError(await preview(ctx.alice, `${ctx.site.base}/to-internal-name`), 403, "M_FORBIDDEN");
    expectError(await preview(ctx.alice, `http://127.0.0.1:${ctx.site.port}/secret`), 403, "M_FORBIDDEN");
    expectError(await preview(ctx.alice, `http://[::ffff:127.0.0.1]:${ctx.site.port}/secret`), 403, "M_FORBIDDEN");
    // A name with any denied address is refused as a whole.
    expectError(await preview(ctx.alice, `http://mixed.test:${ctx.site.port}/page.html`), 403, "M_FORBIDDEN");
    expect(ctx.secret.hits.size).toBe(0);
  });

  test("SSRF: DNS rebinding between the page and its image does not reach the denied address", async () => {
    const r = await preview(ctx.alice, `http://rebind.test:${ctx.site.port}/rebind.html`);
    expect(r.status).toBe(200);
    expect(r.body["og:title"]).toBe("Rebinding");
    expect(r.body["og:image"]).toBeUndefined();
    expect(ctx.secret.hits.size).toBe(0);
  });

  test("url_denylist: host globs and regular expressions", async () => {
    expectError(await preview(ctx.alice, `http://sub.blocked.test:${ctx.site.port}/page.html`), 403, "M_FORBIDDEN");
    expectError(await preview(ctx.alice, `${ctx.site.base}/private/x`), 403, "M_FORBIDDEN");
  });

  test("limits: a page larger than max_page_size is previewed from its beginning; a too large image is left out; slow pages time out", async () => {
    expect((await preview(ctx.alice, `${ctx.site.base}/huge.html`)).body["og:title"]).toBe("Big");
    const big = await preview(ctx.alice, `${ctx.site.base}/big-image.html`);
    expect(big.body["og:title"]).toBe("Big image");
    expect(big.body["og:image"]).toBeUndefined();
    const started = Date.now();
    expectError(await preview(ctx.alice, `${ctx.site.base}/slow`), 502, "M_UNKNOWN");
    expect(Date.now() - started).toBeLessThan(5000);
    expectError(await preview(ctx.alice, `${ctx.site.base}/error`), 502, "M_UNKNOWN");
    expectError(await preview(ctx.alice, `http://nowhere.test:${ctx.site.port}/`), 502, "M_UNKNOWN");
  });

  test("bad input", async () => {
    expectError(await ctx.alice.get("/_matrix/client/v1/media/preview_url"), 400, "M_MISSING_PARAM");
    expectError(await preview(ctx.alice, "not a url"), 400, "M_INVALID_PARAM");
    expectError(await preview(ctx.alice, "ftp://example.org/file"), 400, "M_INVALID_PARAM");
    expectError(await preview(ctx.alice, `http://user:pw@${PAGE_HOST}:${ctx.site.port}/page.html`), 400, "M_INVALID_PARAM");
    expectError(await ctx.alice.get(`/_matrix/client/v1/media/preview_url?url=${enc(`${ctx.site.base}/page.html`)}&ts=yesterday`), 400, "M_INVALID_PARAM");
    expectError(await new TestClient(ctx.s.url).get(`/_matrix/client/v1/media/preview_url?url=${enc(`${ctx.site.base}/page.html`)}`), 401, "M_MISSING_TOKEN");
  });
});

describeOnBackends("URL previews with the default deny list", (backend) => {
  const ctx = fixture<{ s: TestServer; off: TestServer; alice: TestClient; site: Site }>(async (ctx) => {
    ctx.site = startSite("127.0.0.1", 0, () => new Response("<title>inside</title>", { headers: { "Content-Type": "text/html" } }));
    [ctx.s, ctx.off] = await Promise.all([startTestServer({ backend, config: { url_preview: { enabled: true } } }), startTestServer({ backend })]);
    ctx.alice = await registerUser(ctx.s, "alice");
    ctx.s.hs.services.urlPreviews.lookup = async (host) => {
      if (host === "ten.test") return ["10.0.0.1"];
      if (host === "loop.test") return ["127.0.0.1"];
      if (host === "v6.test") return ["fd00::1"];
      throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    };
  }, { teardown: (ctx) => ctx.site.server.stop(true) });

  test("loopback, a name resolving to 10.x, and private IPv6 are refused", async () => {
    expectError(await preview(ctx.alice, `${ctx.site.base}/`), 403, "M_FORBIDDEN");
    expectError(await preview(ctx.alice, `http://loop.test:${ctx.site.port}/`), 403, "M_FORBIDDEN");
    expectError(await preview(ctx.alice, "http://ten.test/"), 403, "M_FORBIDDEN");
    expectError(await preview(ctx.alice, "https://v6.test/"), 403, "M_FORBIDDEN");
    expectError(await preview(ctx.alice, "http://[::1]/"), 403, "M_FORBIDDEN");
    expect(ctx.site.hits.size).toBe(0);
  });

  test("previews are off by default: 404 M_UNRECOGNIZED", async () => {
    const bob = await registerUser(ctx.off, "bob");
    expectError(await preview(bob, "https://example.org/"), 404, "M_UNRECOGNIZED");
  });
});
