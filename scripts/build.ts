// Compiles bin/hs.ts into a single executable: `bun scripts/build.ts native | linux-x64 | linux-arm64 ...`.
// native → dist/hs; a named target → dist/hs-<target>. The compiled binary carries the SQL migrations
// (imported as text) and the web client (built first, embedded as assets).
import { cpSync, existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { buildWeb } from "./build-web.ts";
import { sharpBuildOptions } from "./sharp-embed.ts";

const targets = process.argv.slice(2);
if (targets.length === 0) {
  console.error("usage: bun scripts/build.ts native|linux-x64|linux-arm64 ...");
  process.exit(2);
}
mkdirSync("dist", { recursive: true });
// The web client is always rebuilt, so the binary embeds the current one (web/dist as assets).
const web = await buildWeb();
console.log(`built web/dist in ${Math.round(web.ms)} ms`);
// What is embedded: web/dist without the uncompressed copy of large files that have a .gz beside
// them (the end-to-end encryption WebAssembly: 5.4 MB of 9.1). Browsers take br (HTTPS) or gzip
// (plain HTTP); src/http/web.ts unzips the .gz for a client that takes neither.
const EMBED = "dist/.embed/dist"; // the directory's name ("dist") is where the server looks in the binary
rmSync("dist/.embed", { recursive: true, force: true });
cpSync("web/dist", EMBED, {
  recursive: true,
  filter: (src) => !(existsSync(`${src}.gz`) && statSync(src).isFile() && statSync(src).size >= 1 << 20),
});
for (const t of targets) {
  const outfile = t === "native" ? "dist/hs" : `dist/hs-${t}`;
  const started = performance.now();
  const result = await Bun.build({
    // sharp (thumbnails) with libvips for the target's CPU: scripts/sharp-embed.ts.
    ...(await sharpBuildOptions(t)),
    entrypoints: ["bin/hs.ts"],
    minify: true,
    sourcemap: "none",
    // JavaScriptCore bytecode beside the source: the start-up does not parse the ~1.5 MB bundle
    // (about half of the CPU time to the first answer; +7 MB of binary). A binary whose bytecode does
    // not match its runtime falls back to parsing the source.
    bytecode: true,
    format: "esm",
    compile: {
      ...(t === "native" ? {} : { target: `bun-${t}` as Bun.Build.CompileTarget }),
      outfile,
      autoloadDotenv: false,
      autoloadBunfig: false,
      assets: [EMBED],
    },
  });
  if (!result.success) {
    for (const m of result.logs) console.error(m);
    process.exit(1);
  }
  console.log(`built ${outfile} in ${Math.round(performance.now() - started)} ms`);
}
