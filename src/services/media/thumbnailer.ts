// Thumbnails with sharp (libvips), loaded lazily on first use so that an idle server does not pay
// for it (about 90 MB of RSS once loaded). When sharp cannot load on a platform the server keeps
// running: `available()` is false, the log says so once, and callers serve originals instead.
//
// Only JPEG, PNG, GIF and WebP decoders are enabled (whatever the upload claims to be, sharp sniffs
// the real format: SVG, PDF, TIFF and friends are refused). Images are measured from their headers
// before decoding, and refused past `maxPixels` (width × height × frames): decompression bombs.
import type sharpDefault from "sharp";
import { planThumbnail, type ThumbnailSize } from "../../core/thumbnails.ts";
import { logger } from "../../util/log.ts";

const log = logger("media");

type SharpConstructor = typeof sharpDefault;

export interface ImageInfo {
  /** Display size (after EXIF orientation). */
  width: number;
  height: number;
  /** Frames (1 for still images). */
  pages: number;
  /** sharp's format name: jpeg, png, gif, webp. */
  format: string;
}

export interface Thumbnail {
  bytes: Uint8Array;
  width: number;
  height: number;
  contentType: string;
}

/** The image could not be decoded (not an image, a refused format, corrupt). */
export class NotAnImageError extends Error {
  override name = "NotAnImageError";
}

/** The image has more pixels than allowed. */
export class ImageTooLargeError extends Error {
  override name = "ImageTooLargeError";
}

export interface ThumbnailerOptions {
  maxPixels: number;
  /** Loads sharp (tests pass a failing loader to check the fallback). */
  load?: () => Promise<SharpConstructor>;
  /** Images processed at once (each may use several libvips threads). */
  concurrency?: number;
}

const ALLOWED_FORMATS = new Set(["jpeg", "png", "gif", "webp"]);

async function loadSharp(): Promise<SharpConstructor> {
  const mod = (await import("sharp")) as unknown as { default: SharpConstructor };
  return mod.default;
}

export class Thumbnailer {
  readonly #maxPixels: number;
  readonly #load: () => Promise<SharpConstructor>;
  #sharp: Promise<SharpConstructor | undefined> | undefined;
  readonly #limit: number;
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(opts: ThumbnailerOptions) {
    this.#maxPixels = opts.maxPixels;
    this.#load = opts.load ?? loadSharp;
    this.#limit = opts.concurrency ?? 2;
  }

  #get(): Promise<SharpConstructor | undefined> {
    return (this.#sharp ??= (async () => {
      try {
        const sharp = await this.#load();
        sharp.cache(false);
        // Decoders for the formats thumbnailed, nothing else (no SVG, PDF, TIFF, HEIF, ...).
        sharp.block({ operation: ["VipsForeignLoad"] });
        sharp.unblock({ operation: ["VipsForeignLoadJpeg", "VipsForeignLoadPng", "VipsForeignLoadNsgif", "VipsForeignLoadWebp"] });
        log.info("thumbnails: sharp loaded", { vips: sharp.versions.vips, sharp: sharp.versions.sharp });
        return sharp;
      } catch (e) {
        log.warn("thumbnails unavailable: sharp could not be loaded on this platform; original images are served instead", {
          error: e instanceof Error ? e.message : String(e),
        });
        return undefined;
      }
    })());
  }

  /** Whether thumbnails can be made here (loads sharp on first call). */
  async available(): Promise<boolean> {
    return (await this.#get()) !== undefined;
  }

  async #slot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) await new Promise<void>((r) => this.#waiting.push(r));
    this.#running++;
    try {
      return await fn();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  /**
   * Reads an image's size from its headers (no decoding). Undefined when sharp is unavailable;
   * NotAnImageError for anything not a JPEG, PNG, GIF or WebP image; ImageTooLargeError past the
   * pixel limit.
   */
  async probe(path: string): Promise<ImageInfo | undefined> {
    const sharp = await this.#get();
    if (!sharp) return undefined;
    let meta;
    try {
      meta = await sharp(path, { limitInputPixels: false, failOn: "none" }).metadata();
    } catch (e) {
      throw new NotAnImageError(`cannot read the image: ${(e as Error).message}`);
    }
    if (!meta.format || !ALLOWED_FORMATS.has(meta.format) || !meta.width || !meta.height) {
      throw new NotAnImageError(`not a thumbnailable image (${meta.format ?? "unknown format"})`);
    }
    const pages = meta.pages ?? 1;
    const height = meta.pageHeight && pages > 1 ? meta.pageHeight : meta.height;
    if (meta.width * height * pages > this.#maxPixels) {
      throw new ImageTooLargeError(`${meta.width}x${height}x${pages} exceeds the limit of ${this.#maxPixels} pixels`);
    }
    const oriented = meta.autoOrient;
    return {
      width: oriented?.width ?? meta.width,
      height: pages > 1 ? height : (oriented?.height ?? meta.height),
      pages,
      format: meta.format,
    };
  }

  /**
   * Makes a thumbnail: animated WebP when `animated` and the image has several frames; otherwise a
   * still image, JPEG for JPEG sources and PNG for the rest. Throws NotAnImageError when decoding
   * fails; undefined when sharp is unavailable.
   */
  async make(path: string, info: ImageInfo, size: ThumbnailSize, animated: boolean): Promise<Thumbnail | undefined> {
    const sharp = await this.#get();
    if (!sharp) return undefined;
    const plan = planThumbnail(info.width, info.height, size);
    const anim = animated && info.pages > 1;
    return this.#slot(async () => {
      try {
        let img = sharp(path, { limitInputPixels: this.#maxPixels, animated: anim, failOn: "error" }).timeout({ seconds: 60 });
        if (!anim) img = img.autoOrient();
        img = img.resize(plan.width, plan.height, { fit: size.method === "crop" ? "cover" : "fill", position: "centre" });
        let contentType: string;
        if (anim) {
          img = img.webp({ quality: 80, effort: 2, loop: 0 });
          contentType = "image/webp";
        } else if (info.format === "jpeg") {
          img = img.jpeg({ quality: 80 });
          contentType = "image/jpeg";
        } else {
          img = img.png({ compressionLevel: 6 });
          contentType = "image/png";
        }
        const { data, info: out } = await img.toBuffer({ resolveWithObject: true });
        const height = anim && out.pageHeight ? out.pageHeight : out.height;
        return { bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: out.width, height, contentType };
      } catch (e) {
        throw new NotAnImageError(`thumbnailing failed: ${(e as Error).message}`);
      }
    });
  }
}
