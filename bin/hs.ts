#!/usr/bin/env bun
// hs: the homeserver binary. Each command module registers itself with the CLI dispatcher.
import { main } from "../src/cli/main.ts";
import "../src/cli/commands/serve.ts";
import "../src/cli/commands/generate-config.ts";
import "../src/cli/commands/register-user.ts";
import "../src/cli/commands/hash-password.ts";
import "../src/cli/commands/admin-tokens.ts";
import "../src/cli/commands/admin-users.ts";
import "../src/cli/commands/admin-rooms.ts";
import "../src/cli/commands/db.ts";
import "../src/cli/commands/backup.ts";
import "../src/cli/commands/port-db.ts";
import "../src/cli/commands/import-synapse.ts";
import "../src/cli/commands/admin-media.ts";
import "../src/cli/commands/version.ts";

process.exit(await main(process.argv.slice(2)));
