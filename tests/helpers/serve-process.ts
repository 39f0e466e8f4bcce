// `hs serve` as a separate process (for tests that kill it or break its database underneath).
import { hsCommand } from "./spawn.ts";

export class ServeProcess {
  proc: ReturnType<typeof Bun.spawn> | undefined;

  constructor(
    readonly configPath: string,
    readonly url: string,
  ) {}

  /** Starts the server and resolves once /health answers. */
  async start(timeoutMs = 20000): Promise<void> {
    this.proc = Bun.spawn([...hsCommand(), "serve", "--config", this.configPath], { stdout: "ignore", stderr: "ignore" });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if ((await fetch(`${this.url}/health`)).ok) return;
      } catch {
        // not up yet
      }
      if (this.proc.exitCode !== null) throw new Error(`hs serve exited with ${this.proc.exitCode}`);
      if (Date.now() > deadline) throw new Error("server did not start");
      await Bun.sleep(25);
    }
  }

  get alive(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null;
  }

  async kill(signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<number | null> {
    this.proc?.kill(signal);
    return (await this.proc?.exited) ?? null;
  }
}
