// How the server serves the embedded web client: content types, cache headers, precompressed
// bodies, the Content-Security-Policy, the SPA fallback for pages (and never for API paths), `..`
// rejected, and [web_client] enabled = false.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ensureWebBuilt } from "../../scripts/build-web.ts";
import { expectError, TestClient } from "../helpers/client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

/** A request with the path sent byte for byte (fetch would normalise `..` away). */
async function rawGet(url: string, path: string): Promise<{ status: number; head: string; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    let data = "";
    Bun.connect({
      hostname: u.hostname,
      port: Number(u.port),
      socket: {
        open(s) {
          s.write(`GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\nAccept: text/html\r\nConnection: close\r\n\r\n`);
        },
        data(_s, chunk) {
          data += chunk.toString();
        },
        close() {
          const [head = "", ...rest] = data.split("\r\n\r\n");
          resolve({ status: Number(data.split(" ")[1]), head, body: rest.join("\r\n\r\n") });
        },
        error(_s, e) {
          reject(e);
        },
      },
    }).catch(reject);
  });
}

describe("web client serving", () => {
  let s: TestServer;
  let html: string;
  beforeAll(async () => {
    await ensureWebBuilt();
    s = await startTestServer();
    html = await (await fetch(`${s.url}/`)).text();
  }, 60000);
  afterAll(() => s.stop());

  test("index.html: no-cache, strict CSP, loads hashed assets only", async () => {
    const r = await fetch(`${s.url}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(r.headers.get("cache-control")).toBe("no-cache");
    const csp = r.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    // Scripts from this server only; WebAssembly (the end-to-end encryption) may compile, JavaScript eval() may not.
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval';");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toContain("'unsafe-eval'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    expect(html).toMatch(/<script type="module" src="\/assets\/main-[a-z0-9]+\.js"><\/script>/);
    expect(html).toMatch(/<link rel="stylesheet" href="\/assets\/main-[a-z0-9]+\.css">/);
    expect(html).not.toMatch(/<script>|<style>| style=/); // nothing inline: the CSP would block it
    const etag = r.headers.get("etag")!;
    expect(etag).toBeTruthy();
    const again = await fetch(`${s.url}/`, { headers: { "If-None-Match": etag } });
    expect(again.status).toBe(304);
  });

  test("hashed assets: right types, immutable, brotli/gzip by Accept-Encoding, under 300 KB compressed", async () => {
    const js = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const css = /href="(\/assets\/[^"]+\.css)"/.exec(html)![1]!;
    let total = 0;
    for (const [path, type] of [
      [js, "text/javascript; charset=utf-8"],
      [css, "text/css; charset=utf-8"],
    ] as const) {
      const br = await fetch(`${s.url}${path}`, { headers: { "Accept-Encoding": "br" }, decompress: false } as RequestInit);
      expect(br.status).toBe(200);
      expect(br.headers.get("content-type")).toBe(type);
      expect(br.headers.get("content-encoding")).toBe("br");
      expect(br.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(br.headers.get("vary")).toBe("Accept-Encoding");
      total += (await br.arrayBuffer()).byteLength;
      const gz = await fetch(`${s.url}${path}`, { headers: { "Accept-Encoding": "gzip" }, decompress: false } as RequestInit);
      expect(gz.headers.get("content-encoding")).toBe("gzip");
      const plain = await fetch(`${s.url}${path}`, { headers: { "Accept-Encoding": "identity" } });
      expect(plain.headers.get("content-encoding")).toBeNull();
      expect((await plain.text()).length).toBeGreaterThan(1000);
    }
    expect(total).toBeLessThan(300 * 1024);
    const icon = await fetch(`${s.url}/favicon.svg`);
    expect(icon.headers.get("content-type")).toBe("image/svg+xml");
  });

  test("end-to-end encryption is a separate chunk with its WebAssembly, loaded after the first paint", async () => {
    const manifest = JSON.parse(await Bun.file(join(import.meta.dir, "../../web/dist/hs-web.json")).text()) as { files: Array<{ name: string; brotli: number }> };
    const wasm = manifest.files.find((f) => /^assets\/crypto-[a-z0-9]+\.wasm$/.test(f.name));
    const chunk = manifest.files.find((f) => /^assets\/crypto-[a-z0-9]+\.js$/.test(f.name));
    expect(wasm).toBeDefined();
    expect(chunk).toBeDefined();
    // The entry bundle only imports the chunk (dynamically); the chunk names the WebAssembly.
    const js = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const entry = await (await fetch(`${s.url}${js}`)).text();
    expect(entry).toContain(chunk!.name.slice("assets/".length));
    expect(entry).not.toContain("OlmMachine");
    const chunkText = await (await fetch(`${s.url}/${chunk!.name}`)).text();
    expect(chunkText).toContain("OlmMachine");
    expect(chunkText).toContain(`/${wasm!.name}`);
    const w = await fetch(`${s.url}/${wasm!.name}`, { headers: { "Accept-Encoding": "br" }, decompress: false } as RequestInit);
    expect(w.status).toBe(200);
    expect(w.headers.get("content-type")).toBe("application/wasm"); // WebAssembly.instantiateStreaming needs it
    expect(w.headers.get("content-encoding")).toBe("br");
    expect(w.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const plain = new Uint8Array(await (await fetch(`${s.url}/${wasm!.name}`, { headers: { "Accept-Encoding": "identity" } })).arrayBuffer());
    expect([...plain.slice(0, 4)]).toEqual([0, 0x61, 0x73, 0x6d]); // \0asm
  });

  test("the admin console and the emoji list are chunks of their own, not in the entry bundle", async () => {
    const js = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const entry = await (await fetch(`${s.url}${js}`)).text();
    const manifest = JSON.parse(await Bun.file(join(import.meta.dir, "../../web/dist/hs-web.json")).text()) as { files: Array<{ name: string }> };
    const chunks = manifest.files.filter((f) => /^assets\/.+\.js$/.test(f.name) && `/${f.name}` !== js);
    const texts = await Promise.all(chunks.map(async (c) => ({ name: c.name, text: await (await fetch(`${s.url}/${c.name}`)).text() })));
    for (const [needle, what] of [
      ["Registration tokens", "admin console"],
      ["party popper", "emoji list"],
    ] as const) {
      expect(entry).not.toContain(needle);
      const chunk = texts.find((t) => t.text.includes(needle));
      expect(chunk, what).toBeDefined();
      expect(entry).toContain(chunk!.name.slice("assets/".length)); // imported dynamically by the entry
    }
  });

  test("page paths get the app (SPA fallback); API paths keep Matrix errors", async () => {
    for (const p of ["/admin", "/admin/users", "/room/!abc:localhost", "/settings"]) {
      const r = await fetch(`${s.url}${p}`, { headers: { Accept: "text/html,application/xhtml+xml" } });
      expect(r.status).toBe(200);
      expect(await r.text()).toBe(html);
    }
    const c = new TestClient(s.url);
    expectError(await c.get("/_matrix/client/v3/nonsense"), 404, "M_UNRECOGNIZED");
    expectError(await c.get("/nonsense/at/root"), 404, "M_UNRECOGNIZED"); // not a browser asking for a page
    const html404 = await fetch(`${s.url}/_matrix/client/v3/nonsense`, { headers: { Accept: "text/html" } });
    expect(html404.status).toBe(404);
    expect((await html404.json()).errcode).toBe("M_UNRECOGNIZED");
    expectError(await c.request("DELETE", "/_matrix/client/versions"), 405, "M_UNRECOGNIZED");
    expect((await fetch(`${s.url}/assets/missing-1234.js`)).status).toBe(404);
    // Other methods on page paths are not the client's.
    expectError(await c.post("/admin", {}), 404, "M_UNRECOGNIZED");
  });

  test("`..` never leaves the built client; encoded slashes and backslashes are rejected", async () => {
    // Bun resolves `..` and `%2e%2e` segments before routing: they can only land on a page path,
    // which serves the app itself, never a file outside web/dist.
    for (const p of ["/assets/../../../../etc/passwd", "/assets/%2e%2e/%2e%2e/etc/passwd", "/%2e%2e/package.json"]) {
      const r = await rawGet(s.url, p);
      expect(r.body).not.toContain("root:");
      expect(r.body).not.toContain('"dependencies"');
      if (r.status === 200) expect(r.body).toContain('<div id="app">');
    }
    for (const p of ["/..%2f..%2fetc%2fpasswd", "/assets/..%5c..%5cindex.html", "/assets/%2e%2e%2findex.html", "/a%00b"]) {
      const r = await rawGet(s.url, p);
      expect(r.status).toBe(400);
    }
  });

  test("[web_client] enabled = false: / is an unknown path", async () => {
    const off = await startTestServer({ config: { web_client: { enabled: false } } });
    try {
      const r = await fetch(`${off.url}/`, { headers: { Accept: "text/html" } });
      expect(r.status).toBe(404);
      expect((await r.json()).errcode).toBe("M_UNRECOGNIZED");
    } finally {
      await off.stop();
    }
  });
});
