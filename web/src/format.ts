// Message formatting: a little Markdown for what people type (bold, italic, strike, code, links),
// safe rendering of received HTML (an allow-list rebuilt as Preact nodes, never innerHTML), links in
// plain text, reply fallbacks, and dates.
import { h, type ComponentChildren } from "preact";

export const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const URL_RE = /\b(https?:\/\/[^\s<>"']*[^\s<>"'.,;:!?)\]}])/g;

function inlineMarkdown(text: string): string {
  // Code spans first; their contents stay literal.
  const parts = text.split(/(`[^`\n]+`)/g);
  return parts
    .map((p, i) => {
      if (i % 2 === 1) return `<code>${escapeHtml(p.slice(1, -1))}</code>`;
      let s = escapeHtml(p);
      s = s.replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g, (_m, t: string, u: string) => `<a href="${u}">${t}</a>`);
      s = s.replace(/(^|[^"=>])(https?:\/\/[^\s<>"']*[^\s<>"'.,;:!?)\]}])/g, (_m, pre: string, u: string) => `${pre}<a href="${u}">${u}</a>`);
      s = s.replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>");
      s = s.replace(/(^|[\s(])[*_]([^*_\n]+)[*_](?=$|[\s).,!?:;])/g, "$1<em>$2</em>");
      s = s.replace(/~~([^~\n]+)~~/g, "<del>$1</del>");
      return s;
    })
    .join("");
}

/**
 * Markdown-lite → HTML for formatted_body; undefined when the text has no formatting (then only
 * the plain body is sent).
 */
export function markdownToHtml(text: string): string | undefined {
  const out: string[] = [];
  const blocks = text.split(/```/);
  blocks.forEach((b, i) => {
    if (i % 2 === 1) {
      const code = b.replace(/^[a-z0-9-]*\n/i, "").replace(/\n$/, "");
      out.push(`<pre><code>${escapeHtml(code)}</code></pre>`);
      return;
    }
    const lines = b.split("\n");
    let quote: string[] = [];
    const flush = () => {
      if (quote.length) out.push(`<blockquote>${quote.join("<br>")}</blockquote>`);
      quote = [];
    };
    const rendered: string[] = [];
    for (const line of lines) {
      if (line.startsWith("> ")) {
        if (rendered.length) out.push(rendered.splice(0).join("<br>"));
        quote.push(inlineMarkdown(line.slice(2)));
      } else {
        flush();
        rendered.push(inlineMarkdown(line));
      }
    }
    flush();
    if (rendered.length) out.push(rendered.join("<br>"));
  });
  const html = out.join("").replace(/^(<br>)+|(<br>)+$/g, "");
  return html === escapeHtml(text).replace(/\n/g, "<br>") ? undefined : html;
}

/** Plain text with links and line breaks as nodes. */
export function linkify(text: string): ComponentChildren {
  const nodes: ComponentChildren[] = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    const i = m.index ?? 0;
    if (i > last) nodes.push(text.slice(last, i));
    nodes.push(h("a", { href: m[0], target: "_blank", rel: "noopener noreferrer nofollow" }, m[0]));
    last = i + m[0].length;
  }
  if (last < text.length) nodes.push(text.slice(last));
  return nodes;
}

const ALLOWED = new Set([
  "b", "strong", "i", "em", "u", "s", "del", "strike", "code", "pre", "a", "br", "p", "blockquote",
  "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "span", "sup", "sub", "hr", "table", "thead",
  "tbody", "tr", "th", "td", "details", "summary", "div",
]);

function convert(node: Node, key: number): ComponentChildren {
  if (node.nodeType === Node.TEXT_NODE) return node.textContent ?? "";
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const el = node as Element;
  const tag = el.tagName.toLowerCase();
  if (tag === "mx-reply" || tag === "script" || tag === "style") return null;
  const children = Array.from(el.childNodes).map((c, i) => convert(c, i));
  if (!ALLOWED.has(tag)) return children;
  if (tag === "a") {
    const href = el.getAttribute("href") ?? "";
    // A mention: a pill with the user ID (or room address) on hover, not a link out to matrix.to.
    const pill = /^https:\/\/matrix\.to\/#\/([@#!][^/?]+)/.exec(href);
    if (pill) {
      const id = decodeURIComponent(pill[1]!);
      return h("span", { key, class: `mention-pill ${id.startsWith("@") ? "user" : "room"}`, title: id, "data-mention": id }, children);
    }
    if (!/^(https?:|mailto:)/i.test(href)) return children;
    return h("a", { key, href, target: "_blank", rel: "noopener noreferrer nofollow" }, children);
  }
  if (tag === "ol") {
    const start = Number(el.getAttribute("start"));
    return h("ol", { key, start: Number.isFinite(start) && start > 0 ? start : undefined }, children);
  }
  return h(tag, { key }, children);
}

/**
 * Turns the mentions someone picked in the composer into pills: the first HTML-escaped occurrence
 * of each name in `html` becomes a matrix.to link to the user (as Element sends them).
 */
export function withMentionPills(html: string, mentions: Array<{ name: string; userId: string }>): string {
  let out = html;
  for (const m of mentions) {
    const name = escapeHtml(m.name);
    const i = out.indexOf(name);
    if (i >= 0) out = `${out.slice(0, i)}<a href="https://matrix.to/#/${escapeHtml(m.userId)}">${name}</a>${out.slice(i + name.length)}`;
  }
  return out;
}

/**
 * A formatted message back as the Markdown-lite the composer speaks (for editing it without losing
 * its formatting), with its mention pills as plain names plus who they are.
 */
export function htmlToMarkdown(html: string): { text: string; mentions: Array<{ name: string; userId: string }> } {
  const mentions: Array<{ name: string; userId: string }> = [];
  const doc = new DOMParser().parseFromString(`<body>${html}</body>`, "text/html");
  const walk = (n: Node): string => {
    if (n.nodeType === Node.TEXT_NODE) return n.textContent ?? "";
    if (n.nodeType !== Node.ELEMENT_NODE) return "";
    const el = n as Element;
    const tag = el.tagName.toLowerCase();
    const inner = () => Array.from(el.childNodes).map(walk).join("");
    switch (tag) {
      case "mx-reply":
        return "";
      case "br":
        return "\n";
      case "strong":
      case "b":
        return `**${inner()}**`;
      case "em":
      case "i":
        return `*${inner()}*`;
      case "del":
      case "s":
      case "strike":
        return `~~${inner()}~~`;
      case "code":
        return el.parentElement?.tagName.toLowerCase() === "pre" ? inner() : `\`${inner()}\``;
      case "pre":
        return `\`\`\`\n${inner()}\n\`\`\``;
      case "blockquote":
        return inner()
          .split("\n")
          .map((l) => `> ${l}`)
          .join("\n");
      case "p":
      case "div":
        return `${inner()}\n`;
      case "a": {
        const href = el.getAttribute("href") ?? "";
        const text = inner();
        const pill = /^https:\/\/matrix\.to\/#\/(@[^/?]+)/.exec(href);
        if (pill) {
          mentions.push({ name: text, userId: decodeURIComponent(pill[1]!) });
          return text;
        }
        return text === href ? href : `[${text}](${href})`;
      }
      default:
        return inner();
    }
  };
  const text = Array.from(doc.body.childNodes).map(walk).join("").replace(/\n+$/, "");
  return { text, mentions };
}

/** Renders org.matrix.custom.html safely. */
export function renderHtml(html: string): ComponentChildren {
  const doc = new DOMParser().parseFromString(`<body>${html}</body>`, "text/html");
  return h("span", { class: "html" }, Array.from(doc.body.childNodes).map((c, i) => convert(c, i)));
}

/** The body without the reply fallback ("> <@user> quoted" lines) that older clients add. */
export function stripReplyFallback(body: string): string {
  const lines = body.split("\n");
  let i = 0;
  while (i < lines.length && lines[i]!.startsWith("> ")) i++;
  if (i > 0 && lines[0]!.startsWith("> <")) {
    while (i < lines.length && lines[i] === "") i++;
    return lines.slice(i).join("\n");
  }
  return body;
}

export function isEmojiOnly(s: string): boolean {
  return s.length <= 12 && /^(\p{Extended_Pictographic}|\p{Emoji_Component}|\u200d|\ufe0f|\s)+$/u.test(s) && /\p{Extended_Pictographic}/u.test(s);
}

// ---- dates

export function timeOf(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function dayKey(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function dayLabel(ts: number): string {
  const d = new Date(ts);
  const today = new Date();
  const yesterday = new Date(Date.now() - 86400000);
  if (dayKey(ts) === dayKey(today.getTime())) return "Today";
  if (dayKey(ts) === dayKey(yesterday.getTime())) return "Yesterday";
  return d.toLocaleDateString([], { weekday: "long", day: "numeric", month: "long", ...(d.getFullYear() !== today.getFullYear() ? { year: "numeric" } : {}) });
}

export function shortDate(ts: number): string {
  if (dayKey(ts) === dayKey(Date.now())) return timeOf(ts);
  if (Date.now() - ts < 6 * 86400000) return new Date(ts).toLocaleDateString([], { weekday: "short" });
  return new Date(ts).toLocaleDateString([], { day: "numeric", month: "short" });
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

export function localpart(userId: string): string {
  return userId.replace(/^@/, "").replace(/:.*$/, "");
}
