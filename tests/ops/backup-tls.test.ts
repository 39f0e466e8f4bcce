// hs backup includes the TLS certificate and key that [tls] names (and says plainly when it cannot),
// and hs restore puts them back where the config names them when nothing is there.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir, testCertificate } from "../helpers/server.ts";
import { runHs } from "../helpers/spawn.ts";

async function generated(dir: string, tls: { cert: string; key: string }): Promise<string> {
  const gen = await runHs(["generate-config", "--server-name", "tlsbackup.test", "--config-path", "hs.toml", "--data-dir", "data"], { cwd: dir });
  expect(gen.code).toBe(0);
  const cfg = join(dir, "hs.toml");
  const text = readFileSync(cfg, "utf8").replace("[tls]\n", `[tls]\ncertificate_path = "${tls.cert}"\nprivate_key_path = "${tls.key}"\n`);
  await Bun.write(cfg, text);
  return cfg;
}

test("the TLS certificate and key go into the backup and come back on restore; a missing one is named", async () => {
  const cert = testCertificate();
  const a = tempDir("hs-tlsb-");
  const cfgA = await generated(a, { cert: cert.certPath, key: cert.keyPath });
  // Creates the database (migrated) without a server.
  expect((await runHs(["admin", "tokens", "list", "-c", cfgA])).code).toBe(0);
  const out = join(a, "b.tar.gz");
  const b = await runHs(["backup", "-c", cfgA, "-o", out]);
  expect(b.stderr).toBe("");
  expect(b.code).toBe(0);
  expect(b.stdout).toContain("signing key, TLS certificate and TLS key, 0 media files");
  const list = Bun.spawnSync(["tar", "tzf", out]).stdout.toString();
  expect(list).toContain("tls/certificate.pem");
  expect(list).toContain("tls/private_key.pem");

  const r = tempDir("hs-tlsr-");
  const cfgR = await generated(r, { cert: join(r, "tls/cert.pem"), key: join(r, "tls/key.pem") });
  const restored = await runHs(["restore", "-c", cfgR, "-i", out, "--force"]);
  expect(restored.stderr).toBe("");
  expect(restored.code).toBe(0);
  expect(readFileSync(join(r, "tls/cert.pem"), "utf8")).toBe(readFileSync(cert.certPath, "utf8"));
  expect(readFileSync(join(r, "tls/key.pem"), "utf8")).toBe(readFileSync(cert.keyPath, "utf8"));

  // A key hs cannot read (here: gone) is not silently left out.
  const m = tempDir("hs-tlsm-");
  const cfgM = await generated(m, { cert: cert.certPath, key: join(m, "missing-key.pem") });
  expect((await runHs(["admin", "tokens", "list", "-c", cfgM])).code).toBe(0);
  const partial = await runHs(["backup", "-c", cfgM, "-o", join(m, "b.tar.gz")]);
  expect(partial.code).toBe(0);
  expect(partial.stdout).toContain("TLS certificate, 0 media files");
  expect(partial.stderr).toBe(`Note: the TLS private key ${join(m, "missing-key.pem")} is NOT in the backup: no such file (back it up yourself, or renew it after a restore)\n`);
}, 90_000);
