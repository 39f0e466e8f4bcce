import { interactive, prompt } from "../prompt.ts";
import { registerCommand, RunError } from "../main.ts";

registerCommand({
  name: "hash-password",
  summary: "Print an argon2id (or bcrypt) hash of a password, to store in the database by hand",
  usage: "hs hash-password [--password P] [--bcrypt]",
  help: "  -p, --password P     The password (prompted for twice, hidden, when omitted; read as one line when stdin is not a terminal)\n  --bcrypt             Produce a bcrypt hash instead of argon2id",
  options: { password: { type: "string", short: "p" }, bcrypt: { type: "boolean" } },
  async run({ values }) {
    let password = values.password as string | undefined;
    if (password === undefined) {
      password = await prompt("Password: ", true);
      // Piped (echo pw | hs hash-password): one line, nothing to confirm against a typo.
      if (interactive()) {
        const again = await prompt("Confirm password: ", true);
        if (again !== password) throw new RunError("passwords do not match");
      }
    }
    if (!password) throw new RunError("empty password");
    const hash = values.bcrypt
      ? await Bun.password.hash(password, { algorithm: "bcrypt", cost: 12 })
      : await Bun.password.hash(password, { algorithm: "argon2id" });
    process.stdout.write(hash + "\n");
  },
});
