// A suite's usual start: one test server and a few registered users.
import { registerUser, type TestClient } from "./client.ts";
import { startFederatingServers, startTestServer, type FederatingOptions, type FederatingServer, type TestServer, type TestServerOptions } from "./server.ts";

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

/** The usual federation start: two federating servers, alice registered on the first and bob on the second. */
export async function federatedPair(opts: FederatingOptions = {}): Promise<{ hs1: FederatingServer; hs2: FederatingServer; alice: TestClient; bob: TestClient }> {
  const [hs1, hs2] = (await startFederatingServers(2, opts)) as [FederatingServer, FederatingServer];
  return { hs1, hs2, alice: await registerUser(hs1, "alice"), bob: await registerUser(hs2, "bob") };
}
