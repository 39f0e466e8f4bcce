// Fetching other servers' media (server-server-api "Content Repository"): the authenticated
// federation endpoint first (`/_matrix/federation/v1/media/download/{mediaId}`, a multipart/mixed
// answer whose second part is the file or a `Location` to fetch it from), and the deprecated
// `/_matrix/media/v3/download/{server}/{mediaId}?allow_remote=false` when the server answers
// M_UNRECOGNIZED (it predates Matrix 1.11). The file is streamed to a temporary file in the store.
import { MatrixError } from "../../protocol/errors.ts";
import { fedPath, FederationError, type FederationClient } from "../federation/client.ts";
import { TooLargeError, type FileStore, type PendingFile } from "./file-store.ts";
import { MultipartError, MultipartReader, multipartBoundary } from "./multipart.ts";
import { readUpTo, SafeFetchError, type SafeFetcher } from "./safe-fetch.ts";

export interface RemoteMedia {
  pending: PendingFile;
  contentType: string | null;
  uploadName: string | null;
}

export interface RemoteMediaOptions {
  fed: FederationClient;
  /** For `Location` redirects: arbitrary URLs, checked against the federation IP deny list. */
  fetcher: SafeFetcher;
  files: FileStore;
  /** Largest remote file accepted (502 M_TOO_LARGE past it). */
  maxBytes: number;
  /** Deadline of one whole download. */
  transferTimeoutMs?: number;
}

/** The file name of a Content-Disposition header (RFC 6266; filename* preferred), or null. */
export function dispositionFilename(header: string | null): string | null {
  if (!header) return null;
  const star = /filename\*\s*=\s*([\w!#$&+.^`|~-]+)'[\w-]*'([^;\s]+)/i.exec(header);
  if (star && star[1]!.toLowerCase() === "utf-8") {
    try {
      return decodeURIComponent(star[2]!);
    } catch {
      // malformed: fall back to filename=
    }
  }
  const quoted = /filename\s*=\s*"((?:[^"\\]|\\.)*)"/i.exec(header);
  if (quoted) return quoted[1]!.replace(/\\(.)/g, "$1");
  const token = /filename\s*=\s*([^;\s"]+)/i.exec(header);
  return token ? token[1]! : null;
}

const remoteFailed = (msg: string) => new MatrixError("M_UNKNOWN", msg, {}, 502);
const tooLarge = () => new MatrixError("M_TOO_LARGE", "Remote media is too large", {}, 502);

async function errcodeOf(res: Response): Promise<string | undefined> {
  const body = await readUpTo(res, 65536).catch(() => undefined);
  if (!body) return undefined;
  try {
    const j = JSON.parse(new TextDecoder().decode(body)) as { errcode?: unknown };
    return typeof j.errcode === "string" ? j.errcode : undefined;
  } catch {
    return undefined;
  }
}

/** The Matrix error for a remote server's non-2xx answer to a media request. */
function remoteError(status: number, errcode: string | undefined, origin: string): MatrixError {
  if (status === 404 || errcode === "M_NOT_FOUND") return new MatrixError("M_NOT_FOUND", `Media not found on ${origin}`);
  if (errcode === "M_NOT_YET_UPLOADED" || status === 504) return new MatrixError("M_NOT_YET_UPLOADED", "Content has not yet been uploaded");
  if (errcode === "M_TOO_LARGE" || status === 413) return tooLarge();
  return remoteFailed(`Failed to fetch remote media from ${origin} (HTTP ${status}${errcode ? ` ${errcode}` : ""})`);
}

export class RemoteMediaFetcher {
  readonly #o: RemoteMediaOptions;

  constructor(opts: RemoteMediaOptions) {
    this.#o = opts;
  }

  async #receive(body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | null): Promise<PendingFile> {
    try {
      return await this.#o.files.receive(body, this.#o.maxBytes);
    } catch (e) {
      if (e instanceof TooLargeError) throw tooLarge();
      if (e instanceof MultipartError) throw remoteFailed(`Invalid multipart answer: ${e.message}`);
      throw remoteFailed(`Failed to download remote media: ${(e as Error).message}`);
    }
  }

  async #open(origin: string, path: string, query: Record<string, string | number | boolean>): Promise<Response> {
    try {
      return await this.#o.fed.open({ destination: origin, method: "GET", path, query, timeoutMs: this.#o.transferTimeoutMs ?? 120_000 });
    } catch (e) {
      if (e instanceof FederationError && e.kind === "disabled") throw new MatrixError("M_NOT_FOUND", "Remote media is not available: federation is disabled");
      if (e instanceof FederationError && e.kind === "denied") throw new MatrixError("M_FORBIDDEN", `Federation with ${origin} is not allowed`);
      throw remoteFailed(`Failed to fetch remote media from ${origin}: ${(e as Error).message}`);
    }
  }

  /** Downloads mxc://origin/mediaId into a temporary file. Throws MatrixError. */
  async fetch(origin: string, mediaId: string, timeoutMs: number): Promise<RemoteMedia> {
    const res = await this.#open(origin, fedPath`/_matrix/federation/v1/media/download/${mediaId}`, { timeout_ms: timeoutMs });
    if (res.status === 200) return this.#fromMultipart(origin, res);
    const errcode = await errcodeOf(res);
    if (errcode === "M_UNRECOGNIZED" && (res.status === 404 || res.status === 400 || res.status === 405)) {
      return this.#legacy(origin, mediaId, timeoutMs);
    }
    throw remoteError(res.status, errcode, origin);
  }

  async #legacy(origin: string, mediaId: string, timeoutMs: number): Promise<RemoteMedia> {
    const res = await this.#open(origin, fedPath`/_matrix/media/v3/download/${origin}/${mediaId}`, { allow_remote: false, timeout_ms: timeoutMs });
    if (res.status !== 200) throw remoteError(res.status, await errcodeOf(res), origin);
    return this.#fromResponse(res);
  }

  async #fromResponse(res: Response, fallback?: Headers): Promise<RemoteMedia> {
    const declared = Number(res.headers.get("content-length") ?? "NaN");
    if (Number.isFinite(declared) && declared > this.#o.maxBytes) {
      await res.body?.cancel().catch(() => {});
      throw tooLarge();
    }
    const pending = await this.#receive(res.body);
    return {
      pending,
      contentType: res.headers.get("content-type") ?? fallback?.get("content-type") ?? null,
      uploadName: dispositionFilename(res.headers.get("content-disposition") ?? fallback?.get("content-disposition") ?? null),
    };
  }

  async #fromMultipart(origin: string, res: Response): Promise<RemoteMedia> {
    const boundary = multipartBoundary(res.headers.get("content-type"));
    if (!boundary || !res.body) {
      await res.body?.cancel().catch(() => {});
      throw remoteFailed(`${origin} did not answer with multipart/mixed`);
    }
    const reader = new MultipartReader(res.body, boundary);
    try {
      const meta = await reader.nextPart();
      if (!meta) throw remoteFailed(`${origin} sent an empty multipart answer`);
      await reader.text(65536); // the metadata object: nothing in it is used yet
      const part = await reader.nextPart();
      if (!part) throw remoteFailed(`${origin} sent no media part`);
      const location = part.headers.get("location");
      if (location !== null) {
        await reader.cancel();
        return await this.#fromLocation(origin, location);
      }
      const pending = await this.#receive(reader.body());
      return {
        pending,
        contentType: part.headers.get("content-type"),
        uploadName: dispositionFilename(part.headers.get("content-disposition")),
      };
    } catch (e) {
      await reader.cancel();
      if (e instanceof MatrixError) throw e;
      if (e instanceof MultipartError) throw remoteFailed(`Invalid multipart answer from ${origin}: ${e.message}`);
      throw remoteFailed(`Failed to download remote media from ${origin}: ${(e as Error).message}`);
    }
  }

  async #fromLocation(origin: string, location: string): Promise<RemoteMedia> {
    let fetched;
    try {
      fetched = await this.#o.fetcher.get(location, { timeoutMs: this.#o.transferTimeoutMs ?? 120_000 });
    } catch (e) {
      if (e instanceof SafeFetchError && e.kind === "denied") throw new MatrixError("M_FORBIDDEN", `The media location given by ${origin} is not allowed`);
      throw remoteFailed(`Failed to fetch the media location given by ${origin}: ${(e as Error).message}`);
    }
    if (fetched.res.status !== 200) {
      await fetched.res.body?.cancel().catch(() => {});
      throw remoteError(fetched.res.status, undefined, origin);
    }
    return this.#fromResponse(fetched.res);
  }
}
