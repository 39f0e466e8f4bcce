// The spec's location (scripts/matrix-spec.ts): a clone without ../shared/matrix-spec runs the
// suite with the shape checks skipped and one line saying so, never a wall of ENOENT failures.
// "Absent" is simulated with HS_MATRIX_SPEC pointing at a directory that does not exist.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { matrixSpecDir } from "../scripts/matrix-spec.ts";
import { BUN, ROOT } from "./helpers/spawn.ts";

async function bunTest(files: string[], env: Record<string, string>) {
  const p = Bun.spawn([BUN, "test", ...files], { cwd: ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, text: out + err };
}

test("without a spec: shape checks and coverage are skipped with one line, the rest passes", async () => {
  const r = await bunTest(["tests/spec-coverage.test.ts", "tests/foundation/support.test.ts"], { HS_MATRIX_SPEC: "/nonexistent/matrix-spec" });
  expect(r.text).not.toContain("ENOENT");
  expect(r.code).toBe(0);
  expect(r.text).toContain("Matrix spec not found (tried /nonexistent/matrix-spec (HS_MATRIX_SPEC)");
  expect(r.text).toMatch(/2 skip/);
  expect(r.text).toMatch(/0 fail/);
}, 60_000);

test("HS_MATRIX_SPEC names the spec; ../shared/matrix-spec is the default", async () => {
  const shared = join(ROOT, "../shared/matrix-spec");
  if (!(await Bun.file(join(shared, "README.md")).exists())) {
    console.log("spec-location: ../shared/matrix-spec absent here; default location not checked");
    return;
  }
  if (!process.env.HS_MATRIX_SPEC) expect(matrixSpecDir()).toBe(shared);
  const p = Bun.spawn([BUN, "-e", `import { matrixSpecDir } from "./scripts/matrix-spec.ts"; console.log(matrixSpecDir())`], {
    cwd: ROOT,
    env: { ...process.env, HS_MATRIX_SPEC: shared },
    stdout: "pipe",
  });
  expect((await new Response(p.stdout).text()).trim()).toBe(shared);
});
