import { describe, expect, test } from "bun:test";
import { MatrixError } from "../../protocol/errors.ts";
import { FederationError } from "./client.ts";
import { asClientError } from "./membership.ts";

describe("asClientError", () => {
  test("a remote M_INCOMPATIBLE_ROOM_VERSION keeps its room_version for the client", () => {
    const body = { errcode: "M_INCOMPATIBLE_ROOM_VERSION", error: "y u no upgrade", room_version: "sytest-room-ver" };
    const e = asClientError(new FederationError("remote", "http", "400", { status: 400, errcode: body.errcode, body }), "join the room");
    expect(e).toBeInstanceOf(MatrixError);
    expect(e.errcode).toBe("M_INCOMPATIBLE_ROOM_VERSION");
    expect(e.status).toBe(400);
    expect(e.toJSON()).toEqual(body);
  });

  test("other remote refusals pass errcode and message only; unreachable servers are 502", () => {
    const body = { errcode: "M_FORBIDDEN", error: "no", room_version: "x", secret: 1 };
    const e = asClientError(new FederationError("remote", "http", "403", { status: 403, errcode: body.errcode, body }), "join the room");
    expect(e.toJSON()).toEqual({ errcode: "M_FORBIDDEN", error: "no" });
    const down = asClientError(new FederationError("remote", "network", "refused"), "join the room");
    expect(down.status).toBe(502);
  });
});
