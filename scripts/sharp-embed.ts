// Embeds sharp (libvips and its addon) in the compiled binary, as TOOLCHAIN.md §4 found works:
// `sharp` resolves to its CommonJS entry (static requires the bundler can follow), the addon
// require of the target's platform resolves to src/native/sharp-native.ts (which unpacks and loads
// the two embedded files at run time), every other platform's addon to a module that throws
// MODULE_NOT_FOUND. The packages of another CPU come from the npm registry
// (`bun install --cpu=<arch> --os=linux`, into node_modules/.hs-sharp-<arch>/), so `make release`
// works from a fresh clone. When they cannot be had, the binary is built without sharp: it runs,
// serves original images instead of thumbnails and says so in its log.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");

function sharpVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, "node_modules/sharp/package.json"), "utf8")) as { version: string }).version;
}

/** The node_modules holding sharp's packages for `arch` (installed for another CPU when needed). */
async function packagesFor(arch: string): Promise<string> {
  if (arch === process.arch && process.platform === "linux") return join(ROOT, "node_modules");
  const dir = join(ROOT, "node_modules", `.hs-sharp-${arch}`);
  const want = sharpVersion();
  const have = join(dir, "node_modules/sharp/package.json");
  if (existsSync(have) && (JSON.parse(readFileSync(have, "utf8")) as { version: string }).version === want && existsSync(join(dir, `node_modules/@img/sharp-linux-${arch}`))) {
    return join(dir, "node_modules");
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: `hs-sharp-${arch}`, private: true, dependencies: { sharp: want } }, null, 2));
  console.log(`fetching sharp ${want} for linux-${arch} from the npm registry`);
  const p = Bun.spawn([process.execPath, "install", `--cpu=${arch}`, "--os=linux", "--no-save", "--ignore-scripts"], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, BUN_BE_BUN: "1" } });
  const code = await p.exited;
  if (code !== 0) throw new Error(`bun install --cpu=${arch} failed: ${(await new Response(p.stderr).text()).trim().split("\n").pop()}`);
  return join(dir, "node_modules");
}

const ABSENT = "hs-absent";

/** Bun.build options (plugins, loaders) embedding sharp for a target: native, linux-x64, linux-arm64. */
export async function sharpBuildOptions(target: string): Promise<Pick<Bun.BuildConfig, "plugins" | "loader">> {
  const arch = target === "native" ? process.arch : target.replace(/^linux-/, "").replace(/-.*$/, "");
  const absent: Bun.BunPlugin["setup"] = (b) => {
    b.onLoad({ filter: /.*/, namespace: ABSENT }, (a) => ({
      contents: `const e = new Error(${JSON.stringify(`Cannot find module '${a.path}' (not embedded in this binary)`)}); e.code = "MODULE_NOT_FOUND"; throw e;`,
      loader: "js",
    }));
  };
  let vips: string | undefined;
  let addon: string | undefined;
  let root: string | undefined;
  try {
    if (target.includes("musl") || !["x64", "arm64"].includes(arch)) throw new Error(`no sharp packages for ${target}`);
    root = await packagesFor(arch);
    const libDir = join(root, `@img/sharp-libvips-linux-${arch}/lib`);
    const addonDir = join(root, `@img/sharp-linux-${arch}/lib`);
    vips = readdirSync(libDir).filter((f) => /^libvips-cpp\.so\.[0-9.]+$/.test(f)).map((f) => join(libDir, f))[0];
    addon = readdirSync(addonDir).filter((f) => f.endsWith(".node")).map((f) => join(addonDir, f))[0];
    if (!vips || !addon) throw new Error(`libvips or the sharp addon is missing under ${root}`);
  } catch (e) {
    console.warn(`warning: ${target}: sharp not embedded (${(e as Error).message}); this binary serves original images instead of thumbnails`);
    return {
      plugins: [
        {
          name: "hs-sharp-absent",
          setup(b) {
            b.onResolve({ filter: /^sharp$/ }, (a) => ({ path: a.path, namespace: ABSENT }));
            absent(b);
          },
        },
      ],
    };
  }
  const native = join(ROOT, "src/native/sharp-native.ts");
  return {
    plugins: [
      {
        name: "hs-sharp",
        setup(b) {
          b.onResolve({ filter: /^sharp$/ }, () => ({ path: join(root!, "sharp/dist/index.cjs") }));
          b.onResolve({ filter: /^@img\/sharp-/ }, (a) => (a.path === `@img/sharp-linux-${arch}/sharp.node` ? { path: native } : { path: a.path, namespace: ABSENT }));
          b.onResolve({ filter: /^hs-native:libvips$/ }, () => ({ path: vips! }));
          b.onResolve({ filter: /^hs-native:addon$/ }, () => ({ path: addon! }));
          absent(b);
        },
      },
    ],
    // libvips-cpp.so.8.18.7: the bundler sees the extension ".7".
    loader: { [`.${vips.split(".").pop()}`]: "file", ".node": "file" },
  };
}
