// The server's ed25519 signing key on disk, in Synapse's key-file format
// (`ed25519 <key version> <unpadded base64 seed>` per line), so keys move between servers.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { log } from "../util/log.ts";
import { generateSigningKey, parseSigningKeyFile, formatSigningKeyFile, type SigningKey } from "../core/signing.ts";

export type ServerSigningKey = SigningKey;

/** Writes a fresh key file; refuses to overwrite an existing one. */
export function writeNewSigningKey(path: string): SigningKey {
  if (existsSync(path)) throw new Error(`${path} already exists; refusing to overwrite a signing key`);
  const key = generateSigningKey();
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, formatSigningKeyFile([key]), { mode: 0o600, flag: "wx" });
  return key;
}

/** Loads the first key from the file, creating the file (and logging it) when missing. */
export function ensureSigningKey(path: string, serverName: string): SigningKey {
  if (!existsSync(path)) {
    const key = writeNewSigningKey(path);
    log.info("created signing key", { path, key_id: key.keyId, server_name: serverName });
    return key;
  }
  const keys = parseSigningKeyFile(readFileSync(path, "utf8"));
  const key = keys[0];
  if (!key) throw new Error(`${path}: no ed25519 key found`);
  return key;
}
