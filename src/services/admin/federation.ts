// Synapse's federation admin API (docs/usage/administration/admin_api/federation.md): the servers
// this server sends to, their health (back-off, failing since, last success), the rooms shared with
// each, and resetting a destination's back-off so its queue goes out at once.
import { MatrixError, notFound } from "../../protocol/errors.ts";
import { isValidServerName } from "../../protocol/ids.ts";
import { DESTINATION_ORDER, FederationDestinationsRepo, type DestinationOrder, type DestinationRow } from "../../storage/repos/federation-destinations.ts";

export interface AdminDestination {
  destination: string;
  retry_last_ts: number;
  retry_interval: number;
  failure_ts: number | null;
  last_successful_stream_ordering: null;
  /** hs: when a transaction last went through (Synapse reports a stream position instead). */
  last_success_ts: number | null;
}

function toAdmin(r: DestinationRow): AdminDestination {
  const failing = r.failures > 0;
  return {
    destination: r.destination,
    retry_last_ts: failing ? (r.retry_last_ts ?? 0) : 0,
    retry_interval: failing ? Math.max(0, r.retry_after_ts - (r.retry_last_ts ?? r.retry_after_ts)) : 0,
    failure_ts: failing ? r.failure_ts : null,
    last_successful_stream_ordering: null,
    last_success_ts: r.last_success_ts,
  };
}

export interface AdminFederationDeps {
  destinations: FederationDestinationsRepo;
  /** Ends a destination's back-off and retries its queue; false when it was not backed off. */
  resetConnection: (destination: string) => Promise<boolean>;
}

export class AdminFederation {
  private readonly store: FederationDestinationsRepo;

  constructor(private readonly d: AdminFederationDeps) {
    this.store = d.destinations;
  }

  async list(p: { from?: number; limit?: number; orderBy?: string; dir?: string; destination?: string }) {
    const from = p.from ?? 0;
    const limit = p.limit ?? 100;
    const orderBy = (p.orderBy ?? "destination") as DestinationOrder;
    if (!(orderBy in DESTINATION_ORDER)) throw new MatrixError("M_INVALID_PARAM", `Unknown value for order_by: one of ${Object.keys(DESTINATION_ORDER).join(", ")}`);
    const dir = p.dir ?? "f";
    if (dir !== "f" && dir !== "b") throw new MatrixError("M_INVALID_PARAM", "Unknown direction: dir must be 'f' or 'b'");
    const { rows, total } = await this.store.list({ from, limit, orderBy, dir, search: p.destination });
    const out: { destinations: AdminDestination[]; total: number; next_token?: string } = { destinations: rows.map(toAdmin), total };
    if (from + rows.length < total && rows.length > 0) out.next_token = String(from + rows.length);
    return out;
  }

  async get(destination: string): Promise<AdminDestination> {
    return toAdmin(await this.known(destination));
  }

  async rooms(destination: string, p: { from?: number; limit?: number }) {
    await this.known(destination);
    const from = p.from ?? 0;
    const { rooms, total } = await this.store.sharedRooms(destination, from, p.limit ?? 100);
    const out: { rooms: typeof rooms; total: number; next_token?: string } = { rooms, total };
    if (from + rooms.length < total && rooms.length > 0) out.next_token = String(from + rooms.length);
    return out;
  }

  /** 400 when the destination is not backed off (as Synapse). */
  async resetConnection(destination: string): Promise<void> {
    await this.known(destination);
    if (!(await this.d.resetConnection(destination))) throw new MatrixError("M_UNKNOWN", "The retry timing does not need to be reset for this destination.", {}, 400);
  }

  private async known(destination: string): Promise<DestinationRow> {
    if (!isValidServerName(destination)) throw new MatrixError("M_INVALID_PARAM", "Invalid server name");
    const r = await this.store.find(destination);
    if (!r) throw notFound("Unknown destination");
    return r;
  }
}
