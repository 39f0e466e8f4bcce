#!/usr/bin/env bun
// hs: the homeserver binary. Each command module registers itself with the CLI dispatcher.
import { main } from "../src/cli/main.ts";
import "../src/cli/commands/serve.ts";
import "../src/cli/commands/generate-config.ts";
import "../src/cli/commands/register-user.ts";
import "../src/cli/commands/hash-password.ts";
import "../src/cli/commands/admin-tokens.ts";
import "../src/cli/commands/admin-media.ts";
import "../src/cli/commands/version.ts";

process.exit(await main(process.argv.slice(2)));
