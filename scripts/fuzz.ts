// Long content-fuzz run against a compiled binary (default dist/hs), with the server's resident
// memory sampled at each quarter of the run (tests/helpers/content-fuzz.ts says what is sent).
//   bun scripts/fuzz.ts [--binary dist/hs] [--backend sqlite|postgres] [--requests 20000] [--seed N]
// PostgreSQL needs TEST_POSTGRES_URL. Exits 1 on any 5xx or transport error, or when the growth over
// the last quarter (medians of 250 ms samples per quarter) is a fifth of the whole growth or more
// (and more than 16 MiB: noise).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { formatReport, loadCases, runContentFuzz } from "../tests/helpers/content-fuzz.ts";
import { matrixSpecDir, specAbsentNote } from "./matrix-spec.ts";
import { freshPostgresDatabase } from "../tests/helpers/server.ts";
import { freePort, startServe } from "../tests/helpers/spawn.ts";

const { values } = parseArgs({
  options: {
    binary: { type: "string", default: resolve(import.meta.dir, "../dist/hs") },
    backend: { type: "string", default: "sqlite" },
    requests: { type: "string", default: "20000" },
    seed: { type: "string", default: "12648430" },
    concurrency: { type: "string", default: "8" },
  },
});

const spec = matrixSpecDir();
if (!spec) {
  console.log(`fuzz: ${specAbsentNote("the content fuzzer")}`);
  process.exit(0);
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

const dir = mkdtempSync(join(tmpdir(), "hs-fuzz-"));
const port = freePort();
let db = `[database]\nbackend = "sqlite"\npath = "hs.db"\n`;
let drop: (() => Promise<void>) | undefined;
if (values.backend === "postgres") {
  if (!process.env.TEST_POSTGRES_URL) throw new Error("--backend postgres needs TEST_POSTGRES_URL");
  const pg = await freshPostgresDatabase();
  db = `[database]\nbackend = "postgres"\nurl = "${pg.url}"\n`;
  drop = pg.drop;
}
const config = join(dir, "hs.toml");
writeFileSync(
  config,
  `server_name = "fuzz.test"\n[registration]\nshared_secret = "s"\n${db}[ratelimit]\nenabled = false\n[federation]\nenabled = false\n` +
    `[[listeners]]\nbind_address = "127.0.0.1"\nport = ${port}\n[logging]\nlevel = "error"\n`,
);
const url = `http://127.0.0.1:${port}`;
const server = await startServe(config, { binary: values.binary, url, cwd: dir });
let code = 0;
try {
  const pid = server.proc.pid;
  const requests = Number(values.requests);
  // RSS is sampled every 250 ms with the number of requests sent so far; each quarter of the run is
  // summarised by its median sample (single samples swing by ~100 MiB with the garbage collector).
  const start = rssMiB(pid);
  const samples: Array<[number, number]> = [];
  let sentNow = 0;
  const timer = setInterval(() => samples.push([sentNow, rssMiB(pid)]), 250);
  const report = await runContentFuzz({ url, serverName: "fuzz.test", sharedSecret: "s" }, loadCases(spec), {
    requests,
    seed: Number(values.seed),
    concurrency: Number(values.concurrency),
    progressEvery: 1,
    onProgress: (n) => void (sentNow = n),
  });
  clearInterval(timer);
  console.log(formatReport(report, `[${values.backend}, ${values.binary}]`));
  const median = (xs: number[]) => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length ? v[Math.floor(v.length / 2)]! : NaN;
  };
  const quarter = (q: number) => median(samples.filter(([n]) => n >= (report.sent * q) / 4 && n < (report.sent * (q + 1)) / 4 + (q === 3 ? 1 : 0)).map(([, r]) => r));
  const qs = [0, 1, 2, 3].map(quarter);
  const peak = Math.max(...samples.map(([, r]) => r));
  const total = qs[3]! - start;
  const last = qs[3]! - qs[2]!;
  console.log(`RSS MiB: at start ${start.toFixed(0)}; median per quarter ${qs.map((x) => x.toFixed(0)).join(", ")}; peak ${peak.toFixed(0)}; ${samples.length} samples`);
  console.log(`RSS growth ${total.toFixed(0)} MiB in all, ${last.toFixed(0)} MiB over the last quarter`);
  const fiveXx = Object.values(report.byClass).reduce((n, c) => n + c.fiveXx, 0);
  if (fiveXx > 0 || report.transportErrors.length > 0) code = 1;
  if (last > 16 && last >= total / 5) {
    console.log("RSS still growing in the last quarter");
    code = 1;
  }
} finally {
  server.proc.kill("SIGTERM");
  await server.proc.exited;
  await drop?.();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
