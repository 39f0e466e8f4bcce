// OpenGraph data of an HTML page for URL previews: og:* meta tags, with the page's <title>, meta
// description, Twitter card tags and first image as fallbacks. Parsed with Bun's HTMLRewriter
// (lol-html, a streaming HTML parser): no DOM is built, and malformed HTML is handled as browsers do.

const MAX_TEXT = 500;
const MAX_KEYS = 50;

/** The charset of an HTML document: from the Content-Type header, else a <meta> in its head, else UTF-8. */
export function htmlCharset(contentType: string | null, head: Uint8Array): string {
  const fromHeader = /charset\s*=\s*"?([\w.:-]+)/i.exec(contentType ?? "")?.[1];
  if (fromHeader) return fromHeader;
  const start = new TextDecoder("latin1").decode(head.subarray(0, 2048));
  const meta = /<meta[^>]+charset\s*=\s*["']?([\w.:-]+)/i.exec(start)?.[1];
  return meta ?? "utf-8";
}

export function decodeHtml(bytes: Uint8Array, contentType: string | null): string {
  const label = htmlCharset(contentType, bytes);
  try {
    return new TextDecoder(label).decode(bytes);
  } catch {
    return new TextDecoder("utf-8").decode(bytes);
  }
}

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0", hellip: "…", mdash: "—", ndash: "–", laquo: "«", raquo: "»", copy: "©", reg: "®", trade: "™" };

/** Decodes the character references lol-html leaves in text and attribute values. */
export function decodeEntities(s: string): string {
  return s.replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});/g, (m, ref: string) => {
    if (ref[0] === "#") {
      const code = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) ? String.fromCodePoint(code) : m;
    }
    return NAMED[ref.toLowerCase()] ?? m;
  });
}

function clean(s: string, max = MAX_TEXT): string {
  const t = decodeEntities(s).replace(/\s+/g, " ").trim();
  return t.length > max ? t.slice(0, max - 1) + "…" : t;
}

function absoluteHttpUrl(href: string, base: URL): string | undefined {
  try {
    const u = new URL(decodeEntities(href).trim(), base);
    return u.protocol === "http:" || u.protocol === "https:" ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}

export interface PageMeta {
  /** og:* keys (og:image resolved to an absolute http(s) URL, og:image:* left out). */
  og: Record<string, string>;
}

/** Extracts the preview fields of an HTML page fetched from `pageUrl`. */
export async function parseOpenGraph(html: string, pageUrl: URL): Promise<PageMeta> {
  const og: Record<string, string> = {};
  const twitter: Record<string, string> = {};
  let description: string | undefined;
  let title = "";
  let inTitle = false;
  let titleDone = false;
  let imageSrc: string | undefined;
  let firstImg: string | undefined;

  const rewriter = new HTMLRewriter()
    .on("meta", {
      element(el) {
        const key = (el.getAttribute("property") ?? el.getAttribute("name") ?? "").trim().toLowerCase();
        const content = el.getAttribute("content");
        if (!key || content === null) return;
        if (key.startsWith("og:")) {
          if (!(key in og) && Object.keys(og).length < MAX_KEYS) og[key] = content;
        } else if (key.startsWith("twitter:")) {
          twitter[key] ??= content;
        } else if (key === "description") {
          description ??= content;
        }
      },
    })
    .on("title", {
      element(el) {
        if (titleDone) return;
        inTitle = true;
        el.onEndTag(() => {
          inTitle = false;
          titleDone = true;
        });
      },
      text(t) {
        if (inTitle && !titleDone && title.length < 4 * MAX_TEXT) title += t.text;
      },
    })
    .on("link", {
      element(el) {
        const rel = (el.getAttribute("rel") ?? "").toLowerCase().split(/\s+/);
        const href = el.getAttribute("href");
        if (href && rel.includes("image_src")) imageSrc ??= href;
      },
    })
    .on("img", {
      element(el) {
        const src = el.getAttribute("src");
        if (src && !src.startsWith("data:")) firstImg ??= src;
      },
    });
  await rewriter.transform(new Response(html)).text();

  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(og)) {
    if (k === "og:image" || k.startsWith("og:image:")) continue;
    out[k] = clean(v, k === "og:description" ? MAX_TEXT : 2 * MAX_TEXT);
  }
  const t = og["og:title"] ?? twitter["twitter:title"] ?? (title.trim() ? title : undefined);
  if (t !== undefined && clean(t)) out["og:title"] = clean(t);
  const d = og["og:description"] ?? twitter["twitter:description"] ?? description;
  if (d !== undefined && clean(d)) out["og:description"] = clean(d);
  for (const candidate of [og["og:image"], og["og:image:url"], og["og:image:secure_url"], twitter["twitter:image"], twitter["twitter:image:src"], imageSrc, firstImg]) {
    if (!candidate) continue;
    const abs = absoluteHttpUrl(candidate, pageUrl);
    if (abs) {
      out["og:image"] = abs;
      break;
    }
  }
  return { og: out };
}
