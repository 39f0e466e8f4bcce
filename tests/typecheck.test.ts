// The TypeScript compiler finds no error in the server (tsconfig.json, strict with
// noUncheckedIndexedAccess) nor in the web client (web/tsconfig.json): Bun runs TypeScript without
// checking types, so this is where a type error fails CI.
import { expect, test } from "bun:test";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");

for (const project of [".", "web"]) {
  test(`tsc --noEmit -p ${project}`, async () => {
    const p = Bun.spawn([join(ROOT, "node_modules/.bin/tsc"), "--noEmit", "-p", project], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) console.error(out + err);
    expect(code).toBe(0);
  }, 180_000);
}
