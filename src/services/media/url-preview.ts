// URL previews (GET /_matrix/client/v1/media/preview_url): fetches the page within size and time
// limits, takes its OpenGraph data, stores its image in the media repository (og:image becomes an
// mxc:// URI) and caches the answer. Off by default ([url_preview] enabled).
//
// The fetch goes through SafeFetcher with [url_preview] ip_range_denylist: the first URL, each
// redirect and the image are all checked, against the address actually connected to, so neither
// a redirect to 127.0.0.1 nor a name resolving to 10.x (or changing its answer) reaches the inside.
import { compileGlob } from "../../core/glob.ts";
import type { Config } from "../../config/schema.ts";
import { MatrixError } from "../../protocol/errors.ts";
import { SERVER_NAME, SERVER_VERSION } from "../../protocol/versions.ts";
import type { MediaRepo } from "../../storage/repos/media.ts";
import { IpRangeSet } from "../../util/ip-range.ts";
import { logger } from "../../util/log.ts";
import { OutboundHttp, systemLookup, type HostLookup } from "../federation/outbound-http.ts";
import { baseType, type MediaService } from "./media.ts";
import { decodeHtml, parseOpenGraph } from "./opengraph.ts";
import { SafeFetchError, SafeFetcher, type FetchedResponse } from "./safe-fetch.ts";

const log = logger("media");

export type PreviewJson = Record<string, string | number>;

const MAX_URL_LENGTH = 2048;


/** [url_preview] url_denylist: host name globs, or regular expressions (starting with ^) on the whole URL. */
export function urlDenylist(patterns: readonly string[]): (u: URL) => string | undefined {
  const hostGlobs = patterns.filter((p) => !p.startsWith("^")).map((p) => compileGlob(p, { caseInsensitive: true, questionMark: false }));
  const regexes = patterns.filter((p) => p.startsWith("^")).map((p) => new RegExp(p));
  return (u) => {
    const host = u.hostname.toLowerCase().replace(/^\[|\]$/g, "");
    if (hostGlobs.some((g) => g.test(host))) return `${host} is in the URL preview deny list`;
    const s = u.toString();
    if (regexes.some((r) => r.test(s))) return "this URL is in the URL preview deny list";
    return undefined;
  };
}

/** The first `max` bytes of a body (the rest is cancelled). */
async function readPrefix(res: Response, max: number): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
    const take = Math.min(c.byteLength, max - n);
    chunks.push(take === c.byteLength ? c : c.subarray(0, take));
    n += take;
    if (n >= max) break;
  }
  return new Uint8Array(Buffer.concat(chunks));
}

export interface UrlPreviewOptions {
  config: Config["url_preview"];
  repo: MediaRepo;
  media: MediaService;
  serverName: string;
  lookup?: HostLookup;
  now?: () => number;
}

export class UrlPreviewer {
  readonly enabled: boolean;
  /** Resolves host names (replaceable: tests answer with fake addresses instead of real DNS). */
  lookup: HostLookup;
  readonly #config: Config["url_preview"];
  readonly #repo: MediaRepo;
  readonly #media: MediaService;
  readonly #serverName: string;
  readonly #fetcher: SafeFetcher;
  readonly #now: () => number;
  readonly #inflight = new Map<string, Promise<PreviewJson>>();

  constructor(o: UrlPreviewOptions) {
    this.enabled = o.config.enabled;
    this.lookup = o.lookup ?? systemLookup;
    this.#config = o.config;
    this.#repo = o.repo;
    this.#media = o.media;
    this.#serverName = o.serverName;
    this.#now = o.now ?? Date.now;
    const http = new OutboundHttp({
      denylist: new IpRangeSet(o.config.ip_range_denylist),
      verifyTls: true,
      lookup: (host) => this.lookup(host),
    });
    this.#fetcher = new SafeFetcher({
      http,
      urlDenied: urlDenylist(o.config.url_denylist),
      maxRedirects: 5,
      userAgent: `${SERVER_NAME}/${SERVER_VERSION} (URL preview; Matrix homeserver)`,
    });
  }

  /** The preview of `url`: cached while fresh, fetched otherwise. Throws MatrixError. */
  async preview(url: string): Promise<PreviewJson> {
    if (url.length > MAX_URL_LENGTH) throw new MatrixError("M_INVALID_PARAM", `url is longer than ${MAX_URL_LENGTH} characters`);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new MatrixError("M_INVALID_PARAM", "url is not a valid URL");
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new MatrixError("M_INVALID_PARAM", "Only http and https URLs can be previewed");
    u.hash = "";
    const key = u.toString();
    const cached = await this.#repo.findPreview(key);
    if (cached && cached.expiresTs > this.#now()) return JSON.parse(cached.response) as PreviewJson;
    let p = this.#inflight.get(key);
    if (!p) {
      p = (async () => {
        const og = await this.#build(u);
        const now = this.#now();
        if (this.#config.cache_lifetime > 0) await this.#repo.upsertPreview(key, now, now + this.#config.cache_lifetime * 1000, JSON.stringify(og));
        return og;
      })().finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, p);
    }
    return p;
  }

  async #get(url: URL | string, accept: string): Promise<FetchedResponse> {
    try {
      return await this.#fetcher.get(url, {
        timeoutMs: this.#config.timeout * 1000,
        headers: { Accept: accept, "Accept-Language": "en;q=0.9, *;q=0.5" },
      });
    } catch (e) {
      if (e instanceof SafeFetchError) {
        if (e.kind === "denied") throw new MatrixError("M_FORBIDDEN", `URL preview refused: ${e.message}`);
        if (e.kind === "invalid_url") throw new MatrixError("M_INVALID_PARAM", `URL preview refused: ${e.message}`);
        throw new MatrixError("M_UNKNOWN", `Failed to download content: ${e.message}`, {}, 502);
      }
      throw e;
    }
  }

  async #build(u: URL): Promise<PreviewJson> {
    const { url, res } = await this.#get(u, "text/html,application/xhtml+xml;q=0.9,image/*;q=0.8,*/*;q=0.5");
    if (res.status < 200 || res.status >= 300) {
      await res.body?.cancel().catch(() => {});
      throw new MatrixError("M_UNKNOWN", `Failed to download content: HTTP ${res.status}`, {}, 502);
    }
    const type = baseType(res.headers.get("content-type"));
    if (type.startsWith("image/")) {
      const og: PreviewJson = {};
      await this.#storeImage(res, type, og);
      return og;
    }
    if (type !== "text/html" && type !== "application/xhtml+xml") {
      await res.body?.cancel().catch(() => {});
      return {};
    }
    let bytes: Uint8Array;
    try {
      bytes = await readPrefix(res, this.#config.max_page_size);
    } catch (e) {
      throw new MatrixError("M_UNKNOWN", `Failed to download content: ${(e as Error).message}`, {}, 502);
    }
    const { og: meta } = await parseOpenGraph(decodeHtml(bytes, res.headers.get("content-type")), url);
    const og: PreviewJson = { ...meta };
    const image = og["og:image"];
    delete og["og:image"];
    if (typeof image === "string") {
      try {
        const img = await this.#get(image, "image/*");
        const itype = baseType(img.res.headers.get("content-type"));
        if (img.res.status === 200 && itype.startsWith("image/")) await this.#storeImage(img.res, itype, og);
        else await img.res.body?.cancel().catch(() => {});
      } catch (e) {
        log.debug("URL preview: image not fetched", { error: (e as Error).message });
      }
    }
    return og;
  }

  /** Stores an image answer as local media and adds og:image (mxc://), its type, size and dimensions. */
  async #storeImage(res: Response, type: string, og: PreviewJson): Promise<void> {
    const declared = Number(res.headers.get("content-length") ?? "NaN");
    if ((Number.isFinite(declared) && declared > this.#config.max_page_size) || !res.body) {
      await res.body?.cancel().catch(() => {});
      return;
    }
    let stored;
    try {
      stored = await this.#media.storePreviewImage(res.body, type, this.#config.max_page_size);
    } catch (e) {
      log.debug("URL preview: image not stored", { error: (e as Error).message });
      return;
    }
    og["og:image"] = `mxc://${this.#serverName}/${stored.mediaId}`;
    og["og:image:type"] = type;
    og["matrix:image:size"] = stored.size;
    try {
      const info = await this.#media.thumbnailer.probe(stored.path);
      if (info) {
        og["og:image:width"] = info.width;
        og["og:image:height"] = info.height;
      }
    } catch {
      // not an image sharp reads: no dimensions
    }
  }

  /** Drops cached previews past their lifetime. */
  async expire(): Promise<number> {
    return this.#repo.deleteExpiredPreviews(this.#now());
  }
}
