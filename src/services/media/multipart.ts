// multipart/mixed (RFC 2046 §5.1) as the federation media endpoints use it: a JSON metadata part,
// then the media (or a Location header). Reading streams part bodies without buffering them, so a
// large file goes to disk chunk by chunk; writing builds a stream around a file.

const CRLF = Buffer.from("\r\n");
const HEADER_END = Buffer.from("\r\n\r\n");
const MAX_HEADER_BYTES = 16 * 1024;
const MAX_PREAMBLE_BYTES = 16 * 1024;

export class MultipartError extends Error {
  override name = "MultipartError";
}

/** The boundary of a `multipart/*; boundary=...` Content-Type, or undefined. */
export function multipartBoundary(contentType: string | null): string | undefined {
  if (!contentType) return undefined;
  const [type, ...params] = contentType.split(";");
  if (!type || !/^multipart\//i.test(type.trim())) return undefined;
  for (const p of params) {
    const m = /^\s*boundary\s*=\s*(?:"([^"]{1,200})"|([^\s";]{1,200}))\s*$/i.exec(p);
    if (m) return m[1] ?? m[2];
  }
  return undefined;
}

export interface MultipartPart {
  headers: Headers;
}

/**
 * Reads the parts of a multipart body in order: `nextPart()` gives a part's headers, then
 * `body()` (an async iterable of chunks) or `text(max)` reads its content; moving to the next part
 * skips whatever was not read.
 */
export class MultipartReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  // "\r\n--boundary": the body is read as if it started with CRLF, so that a boundary on the
  // very first line is found the same way as every later one.
  readonly #delim: Buffer;
  #buf: Buffer = Buffer.from("\r\n");
  #eof = false;
  #state: "start" | "body" | "between" | "done" = "start";

  constructor(stream: ReadableStream<Uint8Array>, boundary: string) {
    this.#reader = stream.getReader();
    this.#delim = Buffer.from(`\r\n--${boundary}`);
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const { done, value } = await this.#reader.read();
    if (done) {
      this.#eof = true;
      return false;
    }
    this.#buf = this.#buf.length === 0 ? Buffer.from(value) : Buffer.concat([this.#buf, value]);
    return true;
  }

  /** Consumes everything up to and including the next delimiter, discarding it. */
  async #skipToDelimiter(limit: number): Promise<void> {
    for (;;) {
      const i = this.#buf.indexOf(this.#delim);
      if (i >= 0) {
        this.#buf = this.#buf.subarray(i + this.#delim.length);
        return;
      }
      if (limit >= 0 && this.#buf.length > limit + this.#delim.length) throw new MultipartError("no multipart boundary found");
      // Keep a tail that may hold the start of the delimiter.
      if (limit < 0 && this.#buf.length > this.#delim.length) this.#buf = this.#buf.subarray(this.#buf.length - this.#delim.length);
      if (!(await this.#fill())) throw new MultipartError("multipart body ended before its closing boundary");
    }
  }

  async nextPart(): Promise<MultipartPart | null> {
    if (this.#state === "done") return null;
    if (this.#state === "start") await this.#skipToDelimiter(MAX_PREAMBLE_BYTES);
    else if (this.#state === "body") await this.#skipToDelimiter(-1);
    // After a delimiter: "--" closes the body; otherwise optional whitespace and CRLF.
    while (this.#buf.length < 2) if (!(await this.#fill())) throw new MultipartError("truncated multipart body");
    if (this.#buf[0] === 0x2d && this.#buf[1] === 0x2d) {
      this.#state = "done";
      await this.#reader.cancel().catch(() => {});
      return null;
    }
    for (;;) {
      const i = this.#buf.indexOf(CRLF);
      if (i >= 0) {
        if (!/^[ \t]*$/.test(this.#buf.subarray(0, i).toString("latin1"))) throw new MultipartError("garbage after a multipart boundary");
        this.#buf = this.#buf.subarray(i + 2);
        break;
      }
      if (this.#buf.length > 256) throw new MultipartError("garbage after a multipart boundary");
      if (!(await this.#fill())) throw new MultipartError("truncated multipart body");
    }
    // Headers, up to an empty line (which may come at once: a part without headers).
    const headers = new Headers();
    for (;;) {
      if (this.#buf.length >= 2 && this.#buf[0] === 0x0d && this.#buf[1] === 0x0a) {
        this.#buf = this.#buf.subarray(2);
        break;
      }
      const i = this.#buf.indexOf(HEADER_END);
      if (i >= 0) {
        const block = this.#buf.subarray(0, i).toString("latin1");
        this.#buf = this.#buf.subarray(i + 4);
        for (const line of block.split("\r\n")) {
          const c = line.indexOf(":");
          if (c <= 0) throw new MultipartError("malformed multipart header");
          try {
            headers.append(line.slice(0, c).trim(), line.slice(c + 1).trim());
          } catch {
            throw new MultipartError("malformed multipart header");
          }
        }
        break;
      }
      if (this.#buf.length > MAX_HEADER_BYTES) throw new MultipartError("multipart headers too large");
      if (!(await this.#fill())) throw new MultipartError("truncated multipart headers");
    }
    this.#state = "body";
    return { headers };
  }

  /** The current part's content, chunk by chunk, up to the next delimiter. */
  async *body(): AsyncGenerator<Uint8Array> {
    if (this.#state !== "body") return;
    for (;;) {
      const i = this.#buf.indexOf(this.#delim);
      if (i >= 0) {
        if (i > 0) yield this.#buf.subarray(0, i);
        this.#buf = this.#buf.subarray(i + this.#delim.length);
        this.#state = "between";
        return;
      }
      // Everything but a tail that could be the start of the delimiter is content.
      const keep = this.#delim.length - 1;
      if (this.#buf.length > keep) {
        const out = this.#buf.subarray(0, this.#buf.length - keep);
        this.#buf = this.#buf.subarray(this.#buf.length - keep);
        yield out;
      }
      if (!(await this.#fill())) throw new MultipartError("multipart body ended inside a part");
    }
  }

  /** The current part's content as text, failing past `max` bytes. */
  async text(max: number): Promise<string> {
    const chunks: Uint8Array[] = [];
    let n = 0;
    for await (const c of this.body()) {
      n += c.byteLength;
      if (n > max) throw new MultipartError("multipart part too large");
      chunks.push(c);
    }
    return Buffer.concat(chunks).toString("utf8");
  }

  async cancel(): Promise<void> {
    this.#state = "done";
    await this.#reader.cancel().catch(() => {});
  }
}

/** Concatenates byte arrays and blobs (files, read lazily) into one stream. */
export function concatStream(parts: ReadonlyArray<Uint8Array | Blob>): ReadableStream<Uint8Array> {
  let i = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      while (i < parts.length) {
        const p = parts[i]!;
        if (p instanceof Uint8Array) {
          i++;
          if (p.byteLength > 0) {
            ctrl.enqueue(p);
            return;
          }
          continue;
        }
        reader ??= (p.stream() as ReadableStream<Uint8Array>).getReader();
        const { done, value } = await reader.read();
        if (done) {
          reader = undefined;
          i++;
          continue;
        }
        ctrl.enqueue(value);
        return;
      }
      ctrl.close();
    },
    async cancel() {
      await reader?.cancel().catch(() => {});
    },
  });
}

export interface MultipartBody {
  contentType: string;
  length: number;
  stream: ReadableStream<Uint8Array>;
}

/**
 * The federation media answer: a JSON metadata part (`{}`), then the media with its own headers,
 * or a part holding only a `Location` header when `content` is a URL string.
 */
export function federationMultipart(boundary: string, mediaHeaders: Record<string, string>, content: Blob | { location: string }): MultipartBody {
  const enc = new TextEncoder();
  const head = enc.encode(`--${boundary}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${boundary}\r\n`);
  const tail = enc.encode(`\r\n--${boundary}--\r\n`);
  if (!(content instanceof Blob)) {
    const part = enc.encode(`Location: ${content.location}\r\n\r\n`);
    return {
      contentType: `multipart/mixed; boundary=${boundary}`,
      length: head.byteLength + part.byteLength + tail.byteLength,
      stream: concatStream([head, part, tail]),
    };
  }
  const partHeaders = enc.encode(
    Object.entries(mediaHeaders)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("") + "\r\n",
  );
  return {
    contentType: `multipart/mixed; boundary=${boundary}`,
    length: head.byteLength + partHeaders.byteLength + content.size + tail.byteLength,
    stream: concatStream([head, partHeaders, content, tail]),
  };
}
