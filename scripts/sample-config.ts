// Prints the sample homeserver.toml kept at the top of the repository (make sample-config).
import { renderConfig } from "../src/config/generate.ts";

export function sampleConfig(): string {
  return renderConfig({
    server_name: "example.org",
    public_baseurl: "https://matrix.example.org/",
    signing_key_path: "./data/example.org.signing.key",
    "registration.shared_secret": "CHANGE-ME-to-a-long-random-string",
    "password_policy.minimum_length": 10,
    "database.path": "./data/homeserver.db",
    "media.store_path": "./data/media",
  });
}

if (import.meta.main) process.stdout.write(sampleConfig());
