// The media services, built from the config: the file store, the media service (uploads,
// downloads, thumbnails, remote media, retention) and the URL previewer.
import { readFileSync } from "node:fs";
import type { Config } from "../../config/schema.ts";
import { SERVER_NAME, SERVER_VERSION } from "../../protocol/versions.ts";
import type { Repositories } from "../../storage/repos/index.ts";
import { IpRangeSet } from "../../util/ip-range.ts";
import { logger } from "../../util/log.ts";
import type { FederationClient } from "../federation/client.ts";
import { OutboundHttp, type HostLookup } from "../federation/outbound-http.ts";
import { FileStore } from "./file-store.ts";
import { MediaService } from "./media.ts";
import { RemoteMediaFetcher } from "./remote.ts";
import { SafeFetcher } from "./safe-fetch.ts";
import { Thumbnailer } from "./thumbnailer.ts";
import { UrlPreviewer } from "./url-preview.ts";

const log = logger("media");

export interface MediaServices {
  readonly media: MediaService;
  readonly urlPreviews: UrlPreviewer;
}

export interface MediaServicesOptions {
  /** Where remote media comes from; omitted by the command line (no remote fetches). */
  federationClient?: FederationClient;
  /** Address lookups for `Location` redirects of remote media (tests). */
  lookup?: HostLookup;
  /**
   * Registers what to stop on shutdown; when given (the server), also starts the hourly retention
   * job and clears half-written uploads of a previous run. The command line leaves it out.
   */
  shutdownHooks?: Array<() => void | Promise<void>>;
  /** The background work's holder among processes (services/workers.ts); absent: always this process. */
  background?: { readonly active: boolean; onChange(gain: () => void | Promise<void>, lose: () => void | Promise<void>): void };
}

const RETENTION_INTERVAL_MS = 60 * 60_000;

export function createMediaServices(config: Config, repos: Pick<Repositories, "media" | "dialect">, opts: MediaServicesOptions = {}): MediaServices {
  const repo = repos.media;
  // Several processes on PostgreSQL share the store path: the content lock is taken across them.
  // (The lock holds a pool connection while its work uses others: it needs a pool of 3 or more.)
  const sharedStore = repos.dialect === "postgres" && config.database.max_connections >= 3;
  if (repos.dialect === "postgres" && !sharedStore) log.warn("database.max_connections below 3: media content is not locked across processes; run one process or raise it");
  const files = new FileStore(config.media.store_path, sharedStore ? { lock: (sha256, fn) => repo.withContentLock(sha256, fn) } : undefined);
  files.init(opts.shutdownHooks !== undefined);
  const thumbnailer = new Thumbnailer({ maxPixels: config.media.max_image_pixels });
  let remote: RemoteMediaFetcher | undefined;
  if (opts.federationClient) {
    const fed = config.federation;
    const http = new OutboundHttp({
      denylist: new IpRangeSet(fed.ip_range_denylist),
      verifyTls: fed.verify_tls,
      extraCaPems: fed.ca_files.map((f) => readFileSync(f, "utf8")),
      lookup: opts.lookup,
    });
    remote = new RemoteMediaFetcher({
      fed: opts.federationClient,
      fetcher: new SafeFetcher({ http, userAgent: `${SERVER_NAME}/${SERVER_VERSION}` }),
      files,
      maxBytes: config.media.max_upload_size,
    });
  }
  const media = new MediaService({ serverName: config.server_name, config: config.media, repo, files, thumbnailer, remote });
  const urlPreviews = new UrlPreviewer({ config: config.url_preview, repo, media, serverName: config.server_name });
  if (opts.shutdownHooks) {
    const timer = setInterval(() => {
      // Once across processes: only the holder of the background work runs it.
      if (opts.background && !opts.background.active) return;
      void (async () => {
        await media.runRetention();
        await urlPreviews.expire();
      })().catch((e) => log.warn("media retention failed", { error: (e as Error).message }));
    }, RETENTION_INTERVAL_MS);
    timer.unref?.();
    opts.shutdownHooks.push(async () => {
      clearInterval(timer);
      await media.stop();
    });
  }
  return { media, urlPreviews };
}
