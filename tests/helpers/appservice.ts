// A fake application service for tests: a loopback HTTP server that checks the homeserver's
// hs_token, records every request, answers transactions (or fails the next `failTransactions`
// of them) and pings, and lets a test answer anything else through `handler`.

export interface RecordedRequest {
  method: string;
  path: string;
  auth: string | null;
  body: any;
}

export interface Transaction {
  txnId: string;
  body: any;
}

const TXN_PATH = /^\/_matrix\/app\/v1\/transactions\/([^/?]+)$/;

export class FakeAppservice {
  readonly requests: RecordedRequest[] = [];
  /** Answers a request first; undefined falls through to the default answers. */
  handler: (r: RecordedRequest, url: URL) => Promise<Response | undefined> | Response | undefined = () => undefined;
  failTransactions = 0;
  readonly server: ReturnType<typeof Bun.serve>;

  constructor(readonly hsToken: string) {
    this.server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: async (req) => {
        const url = new URL(req.url);
        const text = await req.text();
        const rec: RecordedRequest = { method: req.method, path: url.pathname + url.search, auth: req.headers.get("authorization"), body: text ? JSON.parse(text) : undefined };
        this.requests.push(rec);
        if (rec.auth !== `Bearer ${this.hsToken}`) return Response.json({ errcode: "M_FORBIDDEN" }, { status: 403 });
        const custom = await this.handler(rec, url);
        if (custom) return custom;
        if (url.pathname.startsWith("/_matrix/app/v1/transactions/")) {
          if (this.failTransactions > 0) {
            this.failTransactions--;
            return Response.json({ errcode: "M_UNKNOWN" }, { status: 500 });
          }
          return Response.json({});
        }
        if (url.pathname === "/_matrix/app/v1/ping") return Response.json({});
        return Response.json({ errcode: "M_NOT_FOUND" }, { status: 404 });
      },
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }

  /** Every transaction attempt, retries included, in arrival order. */
  attempts(): Transaction[] {
    const out: Transaction[] = [];
    for (const r of this.requests) {
      const m = TXN_PATH.exec(r.path);
      if (m && r.method === "PUT") out.push({ txnId: m[1]!, body: r.body });
    }
    return out;
  }

  /** Transactions received (the last attempt of each ID), in order. */
  transactions(): Transaction[] {
    const out = new Map<string, any>();
    for (const a of this.attempts()) out.set(a.txnId, a.body);
    return [...out].map(([txnId, body]) => ({ txnId, body }));
  }

  events(): any[] {
    return this.transactions().flatMap((t) => t.body.events);
  }

  /** Ephemeral data (typing, receipts), under the stable or the unstable (MSC2409) name. */
  ephemeral(): any[] {
    return this.transactions().flatMap((t) => [...(t.body.ephemeral ?? []), ...(t.body["de.sorunome.msc2409.ephemeral"] ?? [])]);
  }

  /** To-device messages (MSC2409). */
  toDevice(): any[] {
    return this.transactions().flatMap((t) => t.body["de.sorunome.msc2409.to_device"] ?? []);
  }

  stop(): void {
    this.server.stop(true);
  }
}
