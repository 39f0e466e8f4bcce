// bench/http/run.ts runs end to end on a tiny workload against hs from source and prints every
// figure and the summary table. Timings are never asserted: only that the figures exist.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { BUN, ROOT } from "../helpers/spawn.ts";

test("the HTTP bench runs every workload on a tiny scale", async () => {
  const proc = Bun.spawn([BUN, join(ROOT, "bench/http/run.ts"), "--scale", "tiny", "--hs", "source"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) console.error(out, err);
  expect(code).toBe(0);
  for (const name of [
    "sync_latency_p50_ms",
    "send1room_events_per_s",
    "send1room_cpu_ms_per_event",
    "send100rooms_events_per_s",
    "startup_existing_db_ms",
    "rss_idle_fresh_mib",
    "initial_sync_3x2_ms",
    "db_bytes_per_event",
    "fanout4_delivery_p99_ms",
    "fanout4_cpu_us_per_delivery",
    "fanout1_4_delivery_p99_ms",
    "fanout1_4_cpu_us_per_delivery",
    "fanoutss_4_delivery_p99_ms",
    "fanoutss_4_cpu_us_per_delivery",
  ]) {
    expect(out).toMatch(new RegExp(`^figure hs ${name} [0-9.]+ load=[0-9.]+$`, "m"));
    expect(out).toMatch(new RegExp(`^\\| ${name} \\| [0-9.]+ \\| [0-9.]+ \\|$`, "m"));
  }
  // Every fan-out message reached every waiter.
  expect(out).toMatch(/^figure hs fanout4_delivered_pct 100 /m);
  expect(out).toMatch(/^figure hs fanout1_4_delivered_pct 100 /m);
  expect(out).toMatch(/^figure hs fanoutss_4_delivered_pct 100 /m);
}, 180_000);
