// A suite's usual start: one test server and a few registered users.
import { registerUser, type TestClient } from "./client.ts";
import { startTestServer, type TestServer, type TestServerOptions } from "./server.ts";

type Clients<N extends readonly string[]> = { [K in keyof N]: TestClient };

/** Starts a test server and registers `names` on it, in order; returns the server and their clients. */
export async function serverWithUsers<const N extends readonly string[]>(
  opts: TestServerOptions,
  ...names: N
): Promise<[TestServer, ...Clients<N>]> {
  const s = await startTestServer(opts);
  const users: TestClient[] = [];
  for (const name of names) users.push(await registerUser(s, name));
  return [s, ...(users as Clients<N>)];
}
