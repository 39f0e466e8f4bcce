// Password hashing: argon2id through Bun.password (async: runs on worker threads). Verification
// also accepts bcrypt hashes ($2a$/$2b$/$2y$, e.g. imported from Synapse or made by
// `hs hash-password --bcrypt`).
//
// Standard bcrypt only looks at the first 72 bytes of a password, but Bun pre-hashes longer
// passwords (TOOLCHAIN §7). So a bcrypt hash is checked against the password truncated to 72 UTF-8
// bytes (standard implementations such as Synapse's) and, for longer passwords, also against the
// whole password (hashes made by Bun itself).

const BCRYPT_PREFIX = /^\$2[aby]\$/;
const BCRYPT_MAX_BYTES = 72;

export async function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: "argon2id" });
}

/** True when `password` matches `hash`; false for a wrong password or an unknown hash format. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  try {
    if (BCRYPT_PREFIX.test(hash)) {
      const bytes = new TextEncoder().encode(password);
      if (bytes.length > BCRYPT_MAX_BYTES) {
        if (await Bun.password.verify(bytes.subarray(0, BCRYPT_MAX_BYTES), hash)) return true;
      }
    }
    return await Bun.password.verify(password, hash);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;

/**
 * Spends about as long as checking a real password, for unknown users, so that response times do
 * not reveal which user IDs exist.
 */
export async function verifyDummyPassword(password: string): Promise<false> {
  dummy ??= hashPassword(crypto.randomUUID());
  await verifyPassword(password, await dummy);
  return false;
}
