import { describe, expect, test } from "bun:test";
import { decodeHtml, htmlCharset, parseOpenGraph } from "./opengraph.ts";

const base = new URL("https://example.org/blog/post.html");

describe("parseOpenGraph", () => {
  test("og tags win; og:image is made absolute", async () => {
    const html = `<!doctype html><html><head><title>Page title</title>
      <meta property="og:title" content="OG title">
      <meta property="og:description" content="  An   article\n about things ">
      <meta property="og:image" content="/img/cover.png">
      <meta property="og:image:width" content="9999">
      <meta property="og:type" content="article">
      <meta property="og:site_name" content="Caf&eacute; &#x26; &#233;clair &lt;3">
      <meta name="description" content="plain description"></head><body><img src="other.png"></body></html>`;
    const { og } = await parseOpenGraph(html, base);
    expect(og).toEqual({
      "og:title": "OG title",
      "og:description": "An article about things",
      "og:image": "https://example.org/img/cover.png",
      "og:type": "article",
      "og:site_name": "Caf&eacute; & éclair <3",
    });
  });

  test("fallbacks: <title>, meta description, first image", async () => {
    const html = `<html><head><title>
        Hello &amp; welcome</title><meta name="description" content="Desc"></head>
      <body><img src="data:image/png;base64,AAAA"><img src="pics/a.jpg"><svg><title>not this</title></svg></body></html>`;
    const { og } = await parseOpenGraph(html, base);
    expect(og["og:title"]).toBe("Hello & welcome");
    expect(og["og:description"]).toBe("Desc");
    expect(og["og:image"]).toBe("https://example.org/blog/pics/a.jpg");
  });

  test("twitter card tags and non-http images", async () => {
    const html = `<meta name="twitter:title" content="T"><meta name="twitter:image" content="javascript:alert(1)"><link rel="image_src" href="//cdn.example.org/x.png">`;
    const { og } = await parseOpenGraph(html, base);
    expect(og["og:title"]).toBe("T");
    expect(og["og:image"]).toBe("https://cdn.example.org/x.png");
  });

  test("empty or garbage input gives an empty preview", async () => {
    expect((await parseOpenGraph("", base)).og).toEqual({});
    expect((await parseOpenGraph("<<<>>>\u0000<meta", base)).og).toEqual({});
  });

  test("charset from the header, else from a meta tag", () => {
    expect(htmlCharset("text/html; charset=ISO-8859-1", new Uint8Array())).toBe("ISO-8859-1");
    expect(htmlCharset("text/html", new TextEncoder().encode('<meta charset="windows-1252">'))).toBe("windows-1252");
    expect(htmlCharset(null, new Uint8Array())).toBe("utf-8");
    const latin1 = new Uint8Array([0x3c, 0x74, 0x69, 0x74, 0x6c, 0x65, 0x3e, 0xe9, 0x3c, 0x2f, 0x74, 0x69, 0x74, 0x6c, 0x65, 0x3e]);
    expect(decodeHtml(latin1, "text/html; charset=iso-8859-1")).toBe("<title>é</title>");
    expect(decodeHtml(latin1, "text/html; charset=bogus-charset")).toContain("<title>");
  });
});
