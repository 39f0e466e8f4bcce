// Users deactivated with erase = true (GDPR "right to be forgotten", as Synapse): their events are
// shown redacted to anyone who was not in the room when they were sent (RoomEvents.erasedSenders,
// applied by toClientEvents). The set is small: kept in memory, reloaded every minute so that
// `hs admin users deactivate --erase` run beside the server takes effect, and at once when the
// admin API changes it.
import type { AdminRepo } from "../../storage/repos/admin.ts";

const RELOAD_MS = 60_000;

export class ErasedUsers {
  private set: ReadonlySet<string> | undefined;
  private loadedAt = 0;
  private loading: Promise<ReadonlySet<string>> | undefined;

  constructor(
    private readonly store: Pick<AdminRepo, "erasedUserIds">,
    private readonly now: () => number = Date.now,
  ) {}

  /** Those of `userIds` who are erased. */
  async among(userIds: Iterable<string>): Promise<ReadonlySet<string>> {
    const all = await this.current();
    if (all.size === 0) return all;
    const out = new Set<string>();
    for (const u of userIds) if (all.has(u)) out.add(u);
    return out;
  }

  /** The admin API erased or restored someone: reload on next use. */
  invalidate(): void {
    this.set = undefined;
  }

  private async current(): Promise<ReadonlySet<string>> {
    if (this.set && this.now() - this.loadedAt < RELOAD_MS) return this.set;
    this.loading ??= this.store
      .erasedUserIds()
      .then((ids) => {
        this.set = new Set(ids);
        this.loadedAt = this.now();
        return this.set;
      })
      .finally(() => (this.loading = undefined));
    return this.loading;
  }
}
