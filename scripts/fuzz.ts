// Long content-fuzz run against a compiled binary (default dist/hs), with the server's resident
// memory sampled at each quarter of the run (tests/helpers/content-fuzz.ts says what is sent).
//   bun scripts/fuzz.ts [--binary dist/hs] [--backend sqlite|postgres] [--requests 20000] [--seed N]
// PostgreSQL needs TEST_POSTGRES_URL. Exits 1 on any 5xx or transport error, or when the growth over
// the last quarter is a fifth of the whole growth or more (and more than 16 MiB: noise).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { formatReport, loadCases, runContentFuzz } from "../tests/helpers/content-fuzz.ts";
import { matrixSpecDir } from "../tests/helpers/matrix-spec.ts";
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
  console.log("fuzz: skipped, the Matrix spec checkout is absent (set HS_MATRIX_SPEC)");
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
  const samples: Array<[number, number]> = [[0, rssMiB(pid)]];
  const report = await runContentFuzz({ url, serverName: "fuzz.test", sharedSecret: "s" }, loadCases(spec), {
    requests,
    seed: Number(values.seed),
    concurrency: Number(values.concurrency),
    progressEvery: Math.max(1, Math.floor(requests / 20)),
    onProgress: (n) => void samples.push([n, rssMiB(pid)]),
  });
  samples.push([report.sent, rssMiB(pid)]);
  console.log(formatReport(report, `[${values.backend}, ${values.binary}]`));
  const start = samples[0]![1];
  const end = samples.at(-1)![1];
  const q3 = samples.reduce((best, s) => (Math.abs(s[0] - report.sent * 0.75) < Math.abs(best[0] - report.sent * 0.75) ? s : best))[1];
  const total = end - start;
  const last = end - q3;
  console.log(`RSS MiB: ${samples.map(([n, r]) => `${n}:${r.toFixed(0)}`).join(" ")}`);
  console.log(`RSS: start ${start.toFixed(0)}, end ${end.toFixed(0)}, growth ${total.toFixed(0)} MiB, last quarter ${last.toFixed(0)} MiB`);
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
