import { afterAll, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configureLogging, logger, redact } from "./log.ts";

const path = join(tmpdir(), `hs-log-test-${process.pid}.log`);
afterAll(() => {
  configureLogging({ level: "error", file: "", format: "json", modules: [] });
  rmSync(path, { force: true });
});

test("secrets are masked by key and inside strings", () => {
  const token = "hs_" + "A".repeat(32);
  expect(
    redact({
      password: "hunter2",
      new_password: "x",
      access_token: token,
      registration_shared_secret: "s",
      request_id: "abc",
      delete_id: "keep",
      path: `/_matrix/client/v3/sync?access_token=${token}&since=1`,
      header: `Bearer ${token}`,
      nested: { auth: { type: "m.login.password", password: "p" } },
      note: `token was ${token}`,
    }),
  ).toEqual({
    password: "<redacted>",
    new_password: "<redacted>",
    access_token: "<redacted>",
    registration_shared_secret: "<redacted>",
    request_id: "abc",
    delete_id: "keep",
    path: "/_matrix/client/v3/sync?access_token=<redacted>&since=1",
    header: "Bearer <redacted>",
    nested: { auth: { type: "m.login.password", password: "<redacted>" } },
    note: "token was <redacted token>",
  });
});

test("per-module levels, JSON and text formats, module names in every line", () => {
  configureLogging({ level: "warn", file: path, format: "json", modules: ["chatty=debug", "quiet=error"] });
  logger("chatty").debug("shown", { n: 1 });
  logger("quiet").warn("hidden");
  logger("other").info("hidden too");
  logger("other").warn("shown too", { password: "pw" });
  configureLogging({ file: path, format: "text" });
  logger("chatty").info("text line", { a: 1 });
  const lines = readFileSync(path, "utf8").trim().split("\n");
  expect(lines).toHaveLength(3);
  expect(JSON.parse(lines[0]!)).toMatchObject({ level: "debug", module: "chatty", msg: "shown", n: 1 });
  expect(JSON.parse(lines[1]!)).toMatchObject({ level: "warn", module: "other", msg: "shown too", password: "<redacted>" });
  expect(lines[2]).toMatch(/^\S+ INFO  \[chatty\] text line \{"a":1\}$/);
  expect(logger("quiet").enabled("warn")).toBe(false);
  expect(logger("chatty").enabled("debug")).toBe(true);
});
