import { expect, test } from "bun:test";
import { hashPassword, verifyPassword } from "./passwords.ts";

test("argon2id hashes verify; wrong passwords and unknown formats do not", async () => {
  const h = await hashPassword("correct horse");
  expect(h).toStartWith("$argon2id$");
  expect(await verifyPassword("correct horse", h)).toBe(true);
  expect(await verifyPassword("wrong horse", h)).toBe(false);
  expect(await verifyPassword("x", "not-a-hash")).toBe(false);
  expect(await verifyPassword("x", "")).toBe(false);
});

test("bcrypt hashes from other implementations ($2a$, $2b$, $2y$) verify", async () => {
  const h = await Bun.password.hash("s3cret", { algorithm: "bcrypt", cost: 4 });
  for (const prefix of ["$2a$", "$2b$", "$2y$"]) {
    const variant = prefix + h.slice(4);
    expect(await verifyPassword("s3cret", variant)).toBe(true);
    expect(await verifyPassword("s3cret!", variant)).toBe(false);
  }
});

test("bcrypt: a standard hash of a password over 72 bytes verifies (only 72 bytes count)", async () => {
  const long = "ü".repeat(50); // 100 UTF-8 bytes
  const first72 = new TextEncoder().encode(long).subarray(0, 72);
  // What Synapse's bcrypt stores for `long`: the hash of its first 72 bytes (no pre-hashing).
  const standard = await Bun.password.hash(first72, { algorithm: "bcrypt", cost: 4 });
  expect(await Bun.password.verify(long, standard)).toBe(false); // Bun alone would pre-hash and fail
  expect(await verifyPassword(long, standard)).toBe(true);
  expect(await verifyPassword(long.slice(0, 30) + "x".repeat(40), standard)).toBe(false);
  // Hashes Bun made of the whole long password (hs hash-password --bcrypt) still verify.
  const bunMade = await Bun.password.hash(long, { algorithm: "bcrypt", cost: 4 });
  expect(await verifyPassword(long, bunMade)).toBe(true);
  expect(await verifyPassword(long + "extra", bunMade)).toBe(false);
});
