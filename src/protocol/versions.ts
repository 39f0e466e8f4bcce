// Spec versions and unstable features advertised by GET /_matrix/client/versions.
export const SPEC_VERSIONS = [
  "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10",
  "v1.11", "v1.12", "v1.13", "v1.14", "v1.15", "v1.16", "v1.17", "v1.18", "v1.19",
] as const;

export const SERVER_NAME = "hs";
export const SERVER_VERSION = "0.1.0";

/** The stable room versions this server supports (their rules are in core/room-versions.ts; a test keeps the two equal). */
export const STABLE_ROOM_VERSIONS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"] as const;
