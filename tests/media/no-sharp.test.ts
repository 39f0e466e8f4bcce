// Where sharp cannot load (a platform without the native addon), the media service keeps working:
// uploads and downloads as usual, the thumbnail endpoint serves the original image, no
// thumbnails are pre-generated, and the loader is tried (and the failure logged) only once.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import sharp from "sharp";
import { FileStore } from "../../src/services/media/file-store.ts";
import { MediaService } from "../../src/services/media/media.ts";
import { Thumbnailer } from "../../src/services/media/thumbnailer.ts";
import { SCHEMA } from "../../src/config/schema.ts";
import type { Db } from "../../src/storage/engines/db.ts";
import { MediaRepo } from "../../src/storage/repos/media.ts";
import { openDatabase } from "../../src/storage/engines/open.ts";
import { configureLogging } from "../../src/util/log.ts";
import { tempDir } from "../helpers/server.ts";

let db: Db;
let dir: string;
let loads = 0;
let media: MediaService;

beforeAll(async () => {
  configureLogging({ level: (process.env.HS_TEST_LOG as "debug" | undefined) ?? "error" });
  dir = tempDir("hs-nosharp-");
  db = await openDatabase({ backend: "sqlite", path: `${dir}/hs.db`, url: "", max_connections: 1 });
  const files = new FileStore(`${dir}/media`);
  files.init();
  const thumbnailer = new Thumbnailer({
    maxPixels: 1e7,
    load: async () => {
      loads++;
      throw new Error("Could not load the \"sharp\" module using the linux-riscv64 runtime");
    },
  });
  const config = Object.fromEntries(Object.entries(SCHEMA.media.fields).map(([k, f]) => [k, f.default])) as unknown as ConstructorParameters<typeof MediaService>[0]["config"];
  media = new MediaService({ serverName: "nosharp.test", config, repo: new MediaRepo(db), files, thumbnailer });
});
afterAll(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test("thumbnail requests get the original image; nothing is pre-generated; sharp is tried once", async () => {
  const png = new Uint8Array(await sharp({ create: { width: 300, height: 200, channels: 3, background: "#888" } }).png().toBuffer());
  const mxc = await media.upload({ userId: "@a:nosharp.test", contentType: "image/png", filename: null, body: new Blob([png]).stream(), contentLength: png.byteLength });
  const mediaId = mxc.split("/").pop()!;
  await media.idle();
  for (const method of ["crop", "scale"] as const) {
    const t = await media.thumbnail({ serverName: "nosharp.test", mediaId, width: 32, height: 32, method });
    expect(t.kind).toBe("original");
    expect(t.contentType).toBe("image/png");
    expect(new Uint8Array(await t.content.arrayBuffer())).toEqual(png);
  }
  expect(await db.all("SELECT * FROM media_thumbnails")).toEqual([]);
  expect(await media.thumbnailer.available()).toBe(false);
  expect(loads).toBe(1);
  // Downloads are unaffected.
  const d = await media.download({ serverName: "nosharp.test", mediaId });
  expect(new Uint8Array(await d.content.arrayBuffer())).toEqual(png);
});
