// The server's ed25519 signing key on disk, in Synapse's key-file format
// (`ed25519 <key version> <unpadded base64 seed>` per line), so keys move between servers.
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { ensurePrivateDir, runningAs } from "../util/private-files.ts";
import { dirname } from "node:path";
import { log } from "../util/log.ts";
import { generateSigningKey, parseSigningKeyFile, formatSigningKeyFile, type SigningKey } from "../core/signing.ts";

export type ServerSigningKey = SigningKey;

/** Writes a fresh key file; refuses to overwrite an existing one. */
export function writeNewSigningKey(path: string): SigningKey {
  if (existsSync(path)) throw new Error(`${path} already exists; refusing to overwrite a signing key`);
  const key = generateSigningKey();
  ensurePrivateDir(dirname(path));
  writeFileSync(path, formatSigningKeyFile([key]), { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
  return key;
}

/** Loads the first key from the file, creating the file (and logging it) when missing. */
export function ensureSigningKey(path: string, serverName: string): SigningKey {
  if (!existsSync(path)) {
    let key: SigningKey;
    try {
      key = writeNewSigningKey(path);
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new Error(
        `cannot create the signing key ${path} as ${runningAs()}: ${(e as Error).message}; check that ${dirname(path)} exists (or can be created) and that this user owns it or may write to it, and the free disk space`,
        { cause: code },
      );
    }
    log.info("created signing key", { path, key_id: key.keyId, server_name: serverName });
    return key;
  }
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`cannot read the signing key ${path} as ${runningAs()}: ${(e as Error).message}; check its owner and mode (0600, owned by this user)`);
  }
  const keys = parseSigningKeyFile(text);
  const key = keys[0];
  if (!key) throw new Error(`${path}: no ed25519 key found`);
  return key;
}
