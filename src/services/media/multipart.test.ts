import { describe, expect, test } from "bun:test";
import { federationMultipart, MultipartError, MultipartReader, multipartBoundary } from "./multipart.ts";

/** A stream delivering `bytes` in chunks of `size` (boundaries fall anywhere). */
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(ctrl) {
      if (off >= bytes.length) return ctrl.close();
      ctrl.enqueue(bytes.slice(off, off + size));
      off += size;
    },
  });
}

async function collect(r: MultipartReader): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of r.body()) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

describe("multipart", () => {
  test("boundary parameter", () => {
    expect(multipartBoundary("multipart/mixed; boundary=abc")).toBe("abc");
    expect(multipartBoundary('multipart/mixed; charset=x; boundary="a b"')).toBe("a b");
    expect(multipartBoundary("application/json")).toBeUndefined();
    expect(multipartBoundary("multipart/mixed")).toBeUndefined();
  });

  test("round trip of what we serve, at every chunk size", async () => {
    const media = new Uint8Array(5000).map((_, i) => (i * 7) & 0xff);
    // Content that contains near-boundaries must survive.
    media.set(new TextEncoder().encode("\r\n--bound"), 100);
    for (const size of [1, 3, 17, 4096, 100000]) {
      const body = federationMultipart("boundary123", { "Content-Type": "image/png", "Content-Disposition": "inline" }, new Blob([media]));
      const bytes = new Uint8Array(await new Response(body.stream).arrayBuffer());
      expect(bytes.byteLength).toBe(body.length);
      const r = new MultipartReader(chunked(bytes, size), "boundary123");
      const meta = await r.nextPart();
      expect(meta!.headers.get("content-type")).toBe("application/json");
      expect(JSON.parse(await r.text(1000))).toEqual({});
      const part = await r.nextPart();
      expect(part!.headers.get("content-type")).toBe("image/png");
      expect(await collect(r)).toEqual(media);
      expect(await r.nextPart()).toBeNull();
    }
  });

  test("Location part, preamble and skipping unread parts", async () => {
    const text = "preamble\r\n--b\r\n\r\n{\"x\":1}\r\n--b\r\nLocation: https://cdn.example/x\r\n\r\n\r\n--b--\r\nepilogue";
    const r = new MultipartReader(chunked(new TextEncoder().encode(text), 5), "b");
    const p1 = await r.nextPart();
    expect(p1!.headers.get("content-type")).toBeNull();
    const p2 = await r.nextPart(); // metadata part skipped unread
    expect(p2!.headers.get("location")).toBe("https://cdn.example/x");
    expect(await r.nextPart()).toBeNull();
  });

  test("truncated and malformed bodies are errors", async () => {
    const r = new MultipartReader(chunked(new TextEncoder().encode("--b\r\nContent-Type: x\r\n\r\nabc"), 2), "b");
    await r.nextPart();
    await expect(collect(r)).rejects.toBeInstanceOf(MultipartError);
    const r2 = new MultipartReader(chunked(new TextEncoder().encode("no boundary here".repeat(2000)), 100), "b");
    await expect(r2.nextPart()).rejects.toBeInstanceOf(MultipartError);
    const r3 = new MultipartReader(chunked(new TextEncoder().encode("--b\r\nbad header line\r\n\r\nx\r\n--b--"), 100), "b");
    await expect(r3.nextPart()).rejects.toBeInstanceOf(MultipartError);
  });
});
