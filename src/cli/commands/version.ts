import { SERVER_VERSION } from "../../protocol/versions.ts";
import { registerCommand } from "../main.ts";

registerCommand({
  name: "version",
  summary: "Print the hs version",
  usage: "hs version",
  help: "",
  options: {},
  async run() {
    process.stdout.write(`hs ${SERVER_VERSION} (bun ${Bun.version})\n`);
  },
});
