// Benchmark: media upload and download throughput over HTTP (MB/s), small uploads per second, and
// thumbnails generated per second (the five recommended sizes made for each uploaded photo), on
// SQLite (and PostgreSQL when TEST_POSTGRES_URL is set). Prints `name value` lines.
//   bun bench/media.ts [files=16] [mib=8]
import sharp from "sharp";
import { registerUser, type TestClient } from "../tests/helpers/client.ts";
import { BACKENDS, startTestServer } from "../tests/helpers/server.ts";

const files = Number(process.argv[2] ?? 16);
const mib = Number(process.argv[3] ?? 8);
const concurrency = 4;

async function parallel(n: number, fn: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) await fn(i);
    }),
  );
  return (performance.now() - started) / 1000;
}

async function upload(c: TestClient, body: Uint8Array<ArrayBuffer>, type: string): Promise<string> {
  const res = await fetch(`${c.baseUrl}/_matrix/media/v3/upload`, { method: "POST", headers: { Authorization: `Bearer ${c.accessToken}`, "Content-Type": type }, body });
  if (res.status !== 200) throw new Error(`upload: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { content_uri: string }).content_uri.slice(6);
}

/** A photo-like JPEG (noise compresses badly, as photos do). */
async function photo(width: number, height: number, seed: number): Promise<Uint8Array<ArrayBuffer>> {
  const px = new Uint8Array(width * height * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 31 + seed * 97 + ((i / width) | 0)) & 0xff;
  return Uint8Array.from(await sharp(px, { raw: { width, height, channels: 3 } }).blur(2).jpeg({ quality: 85 }).toBuffer());
}

for (const backend of BACKENDS) {
  const s = await startTestServer({ backend, config: { media: { max_upload_size: (mib + 1) * 1048576 } } });
  try {
    const alice = await registerUser(s, "bench");
    const size = mib * 1048576;
    const blobs = Array.from({ length: files }, () => {
      const b = new Uint8Array(size);
      for (let off = 0; off < size; off += 65536) crypto.getRandomValues(b.subarray(off, Math.min(size, off + 65536)));
      return b;
    });
    await upload(alice, blobs[0]!.slice(0, 1024), "application/octet-stream"); // warm-up
    const ids: string[] = [];
    const upSecs = await parallel(files, async (i) => {
      ids[i] = await upload(alice, blobs[i]!, "application/octet-stream");
    });
    const downSecs = await parallel(files, async (i) => {
      const res = await fetch(`${alice.baseUrl}/_matrix/client/v1/media/download/${ids[i]}`, { headers: { Authorization: `Bearer ${alice.accessToken}` } });
      const got = await res.arrayBuffer();
      if (got.byteLength !== size) throw new Error(`download: ${got.byteLength} bytes`);
    });
    const small = crypto.getRandomValues(new Uint8Array(10_000));
    const smallN = 300;
    const smallSecs = await parallel(smallN, async (i) => {
      small[0] = i & 0xff;
      small[1] = i >> 8;
      await upload(alice, small, "application/octet-stream");
    });
    console.log(`upload_mb_per_s_${backend} ${((files * mib) / upSecs).toFixed(0)}`);
    console.log(`download_mb_per_s_${backend} ${((files * mib) / downSecs).toFixed(0)}`);
    console.log(`upload_10kb_per_s_${backend} ${(smallN / smallSecs).toFixed(0)}`);

    // Thumbnails: 2400x1600 photos; each upload queues the five recommended sizes.
    const photos = await Promise.all(Array.from({ length: 8 }, (_, i) => photo(2400, 1600, i)));
    await s.hs.services.media.idle();
    const t0 = performance.now();
    for (const p of photos) await upload(alice, p, "image/jpeg");
    await s.hs.services.media.idle();
    const thumbSecs = (performance.now() - t0) / 1000;
    const made = Number((await s.hs.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM media_thumbnails"))?.n ?? 0);
    console.log(`thumbnails_per_s_jpeg_2400x1600_${backend} ${(made / thumbSecs).toFixed(1)}`);
    // One on-demand thumbnail of a new size (dynamic sizes are off: the cached size is served).
    const id = await upload(alice, await photo(1200, 800, 99), "image/png");
    await s.hs.services.media.idle();
    const q0 = performance.now();
    const n = 200;
    await parallel(n, async () => {
      const r = await fetch(`${alice.baseUrl}/_matrix/client/v1/media/thumbnail/${id}?width=320&height=240`, { headers: { Authorization: `Bearer ${alice.accessToken}` } });
      await r.arrayBuffer();
    });
    console.log(`thumbnail_cached_requests_per_s_${backend} ${(n / ((performance.now() - q0) / 1000)).toFixed(0)}`);
    console.log(`rss_after_media_mb_${backend} ${(process.memoryUsage().rss / 1048576).toFixed(0)}`);
  } finally {
    await s.stop();
  }
}
process.exit(0);
