// Thumbnail geometry (client-server-api "Thumbnails"): which size to make for a request, and the
// dimensions a crop or scale of an image gives. Pure: no image decoding here.
//
// "scale" keeps the aspect ratio and fits the image inside the requested box; "crop" gives the
// requested aspect ratio, filling the box and cutting the overflow around the centre. Never upscale.

export type ThumbnailMethod = "crop" | "scale";

export interface ThumbnailSize {
  width: number;
  height: number;
  method: ThumbnailMethod;
}

/** The sizes the spec recommends servers produce (made at upload for images). */
export const RECOMMENDED_THUMBNAIL_SIZES: readonly ThumbnailSize[] = [
  { width: 32, height: 32, method: "crop" },
  { width: 96, height: 96, method: "crop" },
  { width: 320, height: 240, method: "scale" },
  { width: 640, height: 480, method: "scale" },
  { width: 800, height: 600, method: "scale" },
];

/**
 * The recommended size serving a request: the smallest of the same method at least as large as
 * asked in both dimensions; for crop, then a scale size that large; otherwise the largest size of
 * the method asked for (the client asked for more than any recommended size).
 */
export function chooseRecommendedSize(req: ThumbnailSize, sizes: readonly ThumbnailSize[] = RECOMMENDED_THUMBNAIL_SIZES): ThumbnailSize {
  const byArea = [...sizes].sort((a, b) => a.width * a.height - b.width * b.height);
  const fits = (s: ThumbnailSize) => s.width >= req.width && s.height >= req.height;
  const same = byArea.filter((s) => s.method === req.method);
  const found = same.find(fits) ?? (req.method === "crop" ? byArea.filter((s) => s.method === "scale").find(fits) : undefined);
  if (found) return found;
  const pool = same.length > 0 ? same : byArea;
  return pool[pool.length - 1]!;
}

/** Where to cut and what size to produce. `extract` is applied to the original before `resize`. */
export interface ThumbnailPlan {
  /** The region of the original kept (crop), or undefined for the whole image. */
  extract?: { left: number; top: number; width: number; height: number };
  /** The final size. */
  width: number;
  height: number;
}

/**
 * Plans a thumbnail of an `ow`×`oh` image for the requested box. The result is never larger than
 * the original in either dimension.
 */
export function planThumbnail(ow: number, oh: number, req: ThumbnailSize): ThumbnailPlan {
  const w = Math.max(1, Math.floor(req.width));
  const h = Math.max(1, Math.floor(req.height));
  if (req.method === "scale") {
    if (ow <= w && oh <= h) return { width: ow, height: oh };
    const r = Math.min(w / ow, h / oh);
    return { width: Math.max(1, Math.round(ow * r)), height: Math.max(1, Math.round(oh * r)) };
  }
  // crop: the largest region of the original with the requested aspect ratio, centred...
  const s = Math.min(ow / w, oh / h);
  const cw = Math.max(1, Math.min(ow, Math.round(w * s)));
  const ch = Math.max(1, Math.min(oh, Math.round(h * s)));
  const extract = { left: Math.floor((ow - cw) / 2), top: Math.floor((oh - ch) / 2), width: cw, height: ch };
  // ...shrunk to the box when the original is large enough, kept as it is otherwise (no upscaling).
  if (s >= 1) return { extract, width: w, height: h };
  return { extract, width: cw, height: ch };
}

/** True when an `ow`×`oh` original is no larger than the box in both dimensions (serve it as is). */
export function fitsWithin(ow: number, oh: number, req: { width: number; height: number }): boolean {
  return ow <= req.width && oh <= req.height;
}
