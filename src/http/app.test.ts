import { describe, expect, test } from "bun:test";
import { t } from "elysia";
import { MatrixError } from "../protocol/errors.ts";
import { configureLogging } from "../util/log.ts";
import { createApp } from "./app.ts";

configureLogging({ level: "error", file: "/dev/null" });

function app() {
  return createApp({ maxJsonBodySize: 1000, rawBodyPrefixes: ["/raw"] })
    .post("/echo", ({ body }) => ({ got: body }))
    .post("/typed", ({ body }) => ({ ok: body.name }), {
      body: t.Object({ name: t.String(), age: t.Optional(t.Integer()) }),
    })
    .get("/typed-query", ({ query }) => ({ limit: query.limit }), { query: t.Object({ limit: t.Optional(t.Numeric()) }) })
    .get("/boom", () => {
      throw new Error("secret database detail");
    })
    .get("/forbidden", () => {
      throw new MatrixError("M_FORBIDDEN", "nope");
    })
    .post("/raw", async ({ body, request }) => ({ raw: typeof body === "symbol", len: (await request.arrayBuffer()).byteLength }));
}

const send = (a: ReturnType<typeof app>, method: string, path: string, body?: string, headers: Record<string, string> = {}) =>
  a.handle(new Request("http://localhost" + path, { method, body, headers }));

describe("http app error mapping", () => {
  const a = app();

  test("JSON bodies parse whatever the content type; empty body is {}", async () => {
    let r = await send(a, "POST", "/echo", '{"a":1}', { "content-type": "application/json" });
    expect(await r.json()).toEqual({ got: { a: 1 } });
    r = await send(a, "POST", "/echo", '{"a":2}');
    expect(await r.json()).toEqual({ got: { a: 2 } });
    r = await send(a, "POST", "/echo", "", {});
    expect(await r.json()).toEqual({ got: {} });
  });

  test("unparsable body → 400 M_NOT_JSON", async () => {
    const r = await send(a, "POST", "/echo", "{not json", { "content-type": "application/json" });
    expect(r.status).toBe(400);
    expect((await r.json()).errcode).toBe("M_NOT_JSON");
  });

  test("invalid UTF-8 in a JSON body → 400 M_NOT_JSON; valid multi-byte UTF-8 parses", async () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('{"username": "a'), 0x81, ...new TextEncoder().encode('"}')]);
    let r = await a.handle(new Request("http://localhost/echo", { method: "POST", body: bytes, headers: { "content-type": "application/json" } }));
    expect(r.status).toBe(400);
    expect((await r.json()).errcode).toBe("M_NOT_JSON");
    r = await a.handle(new Request("http://localhost/echo", { method: "POST", body: new TextEncoder().encode('{"a":"é☃😀"}') }));
    expect(await r.json()).toEqual({ got: { a: "é☃😀" } });
  });

  test("body over the limit → 413 M_TOO_LARGE", async () => {
    const r = await send(a, "POST", "/echo", JSON.stringify({ x: "y".repeat(2000) }), { "content-type": "application/json" });
    expect(r.status).toBe(413);
    expect((await r.json()).errcode).toBe("M_TOO_LARGE");
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
  });

  test("schema failures → M_MISSING_PARAM / M_BAD_JSON / M_INVALID_PARAM", async () => {
    let r = await send(a, "POST", "/typed", "{}", { "content-type": "application/json" });
    expect(r.status).toBe(400);
    expect((await r.json()).errcode).toBe("M_MISSING_PARAM");
    r = await send(a, "POST", "/typed", '{"name": 5}', { "content-type": "application/json" });
    expect(r.status).toBe(400);
    expect((await r.json()).errcode).toBe("M_BAD_JSON");
    r = await send(a, "GET", "/typed-query?limit=abc");
    expect(r.status).toBe(400);
    expect((await r.json()).errcode).toBe("M_INVALID_PARAM");
  });

  test("unexpected errors → 500 M_UNKNOWN with a request id and no internals", async () => {
    const r = await send(a, "GET", "/boom");
    expect(r.status).toBe(500);
    const body = await r.json();
    expect(body.errcode).toBe("M_UNKNOWN");
    expect(body.error).toMatch(/request [A-Za-z0-9]{10}/);
    expect(JSON.stringify(body)).not.toContain("secret database detail");
    expect(JSON.stringify(body)).not.toContain("at ");
  });

  test("MatrixError keeps its status and errcode", async () => {
    const r = await send(a, "GET", "/forbidden");
    expect(r.status).toBe(403);
    expect(await r.json()).toEqual({ errcode: "M_FORBIDDEN", error: "nope" });
  });

  test("a malformed percent-escape in a path parameter → 400 M_INVALID_PARAM", async () => {
    const b = createApp({ maxJsonBodySize: 1000 }).get("/things/:id", ({ params }) => ({ id: params.id.length }));
    for (const bad of ["%zz", "%E0%A4%A"]) {
      const r = await send(b as never, "GET", `/things/${bad}`);
      expect(r.status).toBe(400);
      expect((await r.json()).errcode).toBe("M_INVALID_PARAM");
    }
    expect(await (await send(b as never, "GET", "/things/%21ok")).json()).toEqual({ id: 3 });
  });

  test("raw-body routes are not parsed as JSON", async () => {
    const r = await send(a, "POST", "/raw", "\x89PNG binary", { "content-type": "image/png" });
    expect(await r.json()).toEqual({ raw: true, len: 12 });
  });
});
