// `hs import-synapse`: takes a stopped Synapse's database (and media store) over into an empty hs
// database for the same server_name. Synapse rows are read through storage/synapse-import/source.ts,
// mapped here, and written through storage/synapse-import/target.ts (plus RoomsRepo for the one
// state group an import may have to add). Stream positions of events are kept as Synapse had them;
// everything of the other streams (account data, receipts, to-device, device lists) lands on one
// position just after the last event, so a client's next /sync starts from scratch and sees it all.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { sha256Hex } from "../auth.ts";
import type { Db, Queryable, SqlParam } from "../../storage/engines/db.ts";
import { DirectoryRepo } from "../../storage/repos/directory.ts";
import { RoomsRepo } from "../../storage/repos/rooms.ts";
import { count, SYNAPSE_QUERIES, synapseSchemaVersion, tableExists, timelineCountsQuery, type SynapseRow, type SynapseSource } from "../../storage/synapse-import/source.ts";
import {
  countRows,
  currentStateByRoom,
  danglingStateGroups,
  eventCountsByRoom,
  finishImport,
  insertRows,
  insertSearchEntries,
  setCurrentStateGroup,
  tuneForImport,
  type ImportTable,
} from "../../storage/synapse-import/target.ts";
import { foldedWords } from "../../util/fold.ts";
import { directorySearchText } from "../directory/user-directory.ts";
import { FileStore } from "../media/file-store.ts";
import { searchableText } from "../search.ts";
import { convertPushRules, type SynapsePushRule } from "./push-rules.ts";

export interface ImportOptions {
  source: SynapseSource;
  /** The hs database, migrated and empty; undefined with `check` (nothing is written). */
  target?: Db;
  serverName: string;
  /** Synapse's media_store_path; media is skipped when absent. */
  synapseMediaPath?: string;
  /** hs's [media] store_path. */
  hsMediaPath?: string;
  /** Dry run: read and map everything, write nothing. */
  check?: boolean;
  /** Called as rows go by (step name, rows done, rows in the step). */
  progress?: (step: string, done: number, total: number) => void;
}

export interface StepReport {
  step: string;
  /** Rows read from Synapse. */
  read: number;
  /** Rows written to (or, with check, that would be written to) hs. */
  imported: number;
  skipped: number;
  /** Time spent, for the steps that stream a table. */
  seconds?: number;
}

export interface RoomCheck {
  roomId: string;
  synapseEvents: number;
  hsEvents: number;
  synapseStateHash: string;
  hsStateHash: string;
}

export interface ImportReport {
  schemaVersion: number;
  steps: StepReport[];
  /** Why rows were skipped (grouped, with counts). */
  skipReasons: Array<{ reason: string; rows: number }>;
  notes: string[];
  rooms: RoomCheck[];
  /** Problems found by the verification pass (empty when everything matched). */
  problems: string[];
  events: number;
  mediaBytes: number;
  seconds: number;
}

const bool = (v: unknown): number => (v === true || v === 1 || v === "1" || v === "t" || v === "true" ? 1 : 0);
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : typeof v === "string" ? v : v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v));

function parseJson(v: unknown): unknown {
  const s = str(v);
  if (s === null) return undefined;
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** Event IDs of prev_events / auth_events: plain IDs (room v3+) or [id, hashes] pairs (v1, v2). */
function refs(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((x) => (typeof x === "string" ? [x] : Array.isArray(x) && typeof x[0] === "string" ? [x[0]] : []));
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function stateHash(entries: ReadonlyArray<[string, string, string]>): string {
  return sha256Hex(entries.map((e) => e.join("\u0000")).join("\u0001")).slice(0, 16);
}

export class SynapseImporter {
  private readonly steps: StepReport[] = [];
  private readonly skips = new Map<string, number>();
  private readonly notes: string[] = [];
  private readonly now = Date.now();
  /** The stream position of everything that is not an event (after the last event). */
  private otherStreamPos = 1;
  private readonly localUsers = new Set<string>();
  private readonly importedRooms = new Set<string>();
  private readonly hiddenDevices = new Set<string>();
  private readonly devices = new Set<string>();
  private mediaBytes = 0;
  private eventsImported = 0;
  /** Writes a step's batch adds to its transaction (search index entries). */
  private batchExtra: Array<(tx: Queryable) => Promise<void>> = [];
  /** Name and avatar of member join events; whether join-rule / history-visibility events make a room's members findable. */
  private readonly joinProfiles = new Map<string, { name: string | null; avatar: string | null }>();
  private readonly publicityEvents = new Map<string, boolean>();
  private readonly localProfiles = new Map<string, { name: string | null; avatar: string | null }>();

  constructor(private readonly o: ImportOptions) {
    if (!o.check && !o.target) throw new Error("a target database is needed unless check is set");
  }

  private skip(reason: string, n = 1): void {
    this.skips.set(reason, (this.skips.get(reason) ?? 0) + n);
  }

  private async write(table: ImportTable, rows: SqlParam[][], q?: Queryable): Promise<void> {
    if (this.o.check || rows.length === 0) return;
    if (q) await insertRows(q, table, rows);
    else await this.o.target!.transaction((tx) => insertRows(tx, table, rows));
  }

  /**
   * Runs one step: streams `sql`, maps each batch with `map` (which returns rows per hs table and
   * counts its own skips), writes them.
   */
  private async step(
    name: string,
    sourceTable: string,
    sql: string,
    map: (rows: SynapseRow[]) => Promise<Partial<Record<ImportTable, SqlParam[][]>>> | Partial<Record<ImportTable, SqlParam[][]>>,
    primary: ImportTable,
  ): Promise<void> {
    const report: StepReport = { step: name, read: 0, imported: 0, skipped: 0 };
    this.steps.push(report);
    const t0 = performance.now();
    if (!(await tableExists(this.o.source, sourceTable))) {
      this.notes.push(`${name}: Synapse has no ${sourceTable} table; nothing imported`);
      return;
    }
    const total = await count(this.o.source, sourceTable);
    const skippedBefore = [...this.skips.values()].reduce((a, b) => a + b, 0);
    for await (const batch of this.o.source.batches(sql)) {
      report.read += batch.length;
      const out = await map(batch);
      const extra = this.batchExtra;
      this.batchExtra = [];
      if (!this.o.check) {
        await this.o.target!.transaction(async (tx) => {
          for (const [table, rows] of Object.entries(out) as Array<[ImportTable, SqlParam[][]]>) if (rows.length) await insertRows(tx, table, rows);
          for (const f of extra) await f(tx);
        });
      }
      report.imported += out[primary]?.length ?? 0;
      this.o.progress?.(name, report.read, total);
    }
    report.skipped = [...this.skips.values()].reduce((a, b) => a + b, 0) - skippedBefore;
    report.seconds = (performance.now() - t0) / 1000;
  }

  async run(): Promise<ImportReport> {
    const start = performance.now();
    const src = this.o.source;
    const schemaVersion = await synapseSchemaVersion(src);
    const server = this.o.serverName;
    const maxStream = Number((await src.all(SYNAPSE_QUERIES.maxStreamOrdering))[0]?.m ?? 0);
    this.otherStreamPos = Math.max(0, maxStream) + 1;
    if (!this.o.check) await tuneForImport(this.o.target!);
    const pendingUpdates = await count(src, "background_updates");
    if (pendingUpdates) {
      this.notes.push(`Synapse has ${pendingUpdates} unfinished background update(s): for the most faithful import, let Synapse run until they finish (admin API /_synapse/admin/v1/background_updates/status), stop it, and import again`);
    }

    // ---- accounts
    await this.step(
      "users",
      "users",
      SYNAPSE_QUERIES.users,
      (rows) => ({
        users: rows.flatMap((r) => {
          const id = String(r.name);
          if (!id.endsWith(`:${server}`)) {
            this.skip(`users: not of server ${server}`);
            return [];
          }
          this.localUsers.add(id);
          const hash = str(r.password_hash);
          return [[id, hash ? hash : null, bool(r.admin), bool(r.is_guest), str(r.user_type), bool(r.deactivated), (num(r.creation_ts) ?? 0) * 1000, bool(r.shadow_banned)]];
        }),
      }),
      "users",
    );

    await this.step(
      "devices",
      "devices",
      SYNAPSE_QUERIES.devices,
      (rows) => ({
        devices: rows.flatMap((r) => {
          const key = `${r.user_id}\u0000${r.device_id}`;
          if (bool(r.hidden)) {
            // Synapse keeps cross-signing keys as hidden devices; hs has them in their own table.
            this.hiddenDevices.add(key);
            this.skip("devices: hidden (Synapse's cross-signing key entries; imported as cross-signing keys)");
            return [];
          }
          if (!this.localUsers.has(String(r.user_id))) {
            this.skip("devices: of an unknown user");
            return [];
          }
          this.devices.add(key);
          const seen = num(r.last_seen);
          return [[String(r.user_id), String(r.device_id), str(r.display_name), str(r.ip), seen, str(r.user_agent), seen ?? this.now]];
        }),
      }),
      "devices",
    );

    // Refresh tokens: hs links them both ways by hash.
    const refresh = new Map<number, { hash: string; next: number | null }>();
    const refreshPrev = new Map<number, number>();
    if (await tableExists(src, "refresh_tokens")) {
      for await (const batch of src.batches(SYNAPSE_QUERIES.refreshTokens)) {
        for (const r of batch) {
          const next = num(r.next_token_id);
          refresh.set(Number(r.id), { hash: sha256Hex(String(r.token)), next });
          if (next !== null) refreshPrev.set(next, Number(r.id));
        }
      }
    }
    await this.step(
      "refresh tokens",
      "refresh_tokens",
      SYNAPSE_QUERIES.refreshTokens,
      (rows) => ({
        refresh_tokens: rows.flatMap((r) => {
          if (!this.devices.has(`${r.user_id}\u0000${r.device_id}`)) {
            this.skip("refresh tokens: of a device that no longer exists");
            return [];
          }
          const id = Number(r.id);
          const prev = refreshPrev.get(id);
          const next = num(r.next_token_id);
          return [[refresh.get(id)!.hash, String(r.user_id), String(r.device_id), prev === undefined ? null : refresh.get(prev)!.hash, next === null ? null : (refresh.get(next)?.hash ?? null), this.now]];
        }),
      }),
      "refresh_tokens",
    );

    /** access token id → device (pushers and event transaction IDs name tokens by id). */
    await this.step(
      "access tokens",
      "access_tokens",
      SYNAPSE_QUERIES.accessTokens,
      (rows) => ({
        access_tokens: rows.flatMap((r) => {
          const user = String(r.user_id);
          const device = str(r.device_id);
          if (!this.localUsers.has(user)) {
            this.skip("access tokens: of a user of another server (appservice puppets)");
            return [];
          }
          if (device !== null && !this.devices.has(`${user}\u0000${device}`)) {
            this.skip("access tokens: of a device that no longer exists");
            return [];
          }
          const rt = num(r.refresh_token_id);
          return [[sha256Hex(String(r.token)), user, device, num(r.last_validated) ?? this.now, num(r.valid_until_ms), rt === null ? null : (refresh.get(rt)?.hash ?? null), bool(r.used)]];
        }),
      }),
      "access_tokens",
    );
    const puppets = await count(src, "access_tokens", "puppets_user_id IS NOT NULL");
    if (puppets) this.notes.push(`${puppets} access token(s) made by an admin's "login as user" are imported as the user's own tokens`);

    await this.step(
      "last-seen IPs",
      "user_ips",
      SYNAPSE_QUERIES.userIps,
      (rows) => ({
        user_ips: rows.flatMap((r) => (this.localUsers.has(String(r.user_id)) ? [[String(r.user_id), str(r.device_id) ?? "", String(r.ip), String(r.user_agent), Number(r.last_seen)]] : [])),
      }),
      "user_ips",
    );

    await this.step(
      "profiles",
      "profiles",
      SYNAPSE_QUERIES.profiles,
      (rows) => {
        const out: SqlParam[][] = [];
        for (const r of rows) {
          // Synapse 1.67 keys profiles by localpart.
          const raw = String(r.user_id);
          const id = raw.startsWith("@") ? raw : `@${raw}:${server}`;
          if (!this.localUsers.has(id)) {
            this.skip("profiles: of an unknown user");
            continue;
          }
          this.localProfiles.set(id, { name: str(r.displayname), avatar: str(r.avatar_url) });
          if (r.displayname !== null && r.displayname !== undefined) out.push([id, "displayname", JSON.stringify(String(r.displayname))]);
          if (r.avatar_url !== null && r.avatar_url !== undefined) out.push([id, "avatar_url", JSON.stringify(String(r.avatar_url))]);
        }
        return { profiles: out };
      },
      "profiles",
    );

    const pos = this.otherStreamPos;
    await this.step(
      "global account data",
      "account_data",
      SYNAPSE_QUERIES.accountData,
      (rows) => ({
        account_data: rows.flatMap((r) => {
          if (!this.localUsers.has(String(r.user_id))) {
            this.skip("account data: of an unknown user");
            return [];
          }
          return [[String(r.user_id), "", String(r.account_data_type), String(r.content), pos]];
        }),
      }),
      "account_data",
    );
    await this.step(
      "room account data",
      "room_account_data",
      SYNAPSE_QUERIES.roomAccountData,
      (rows) => ({
        account_data: rows.flatMap((r) =>
          this.localUsers.has(String(r.user_id)) ? [[String(r.user_id), String(r.room_id), String(r.account_data_type), String(r.content), pos]] : [],
        ),
      }),
      "account_data",
    );
    // Room tags → m.tag room account data.
    {
      const tags = new Map<string, Record<string, unknown>>();
      await this.step(
        "room tags",
        "room_tags",
        SYNAPSE_QUERIES.roomTags,
        (rows) => {
          for (const r of rows) {
            const k = `${r.user_id}\u0000${r.room_id}`;
            let t = tags.get(k);
            if (!t) tags.set(k, (t = {}));
            t[String(r.tag)] = parseJson(r.content) ?? {};
          }
          return {};
        },
        "account_data",
      );
      const rows: SqlParam[][] = [];
      for (const [k, t] of tags) {
        const [user, room] = k.split("\u0000") as [string, string];
        if (this.localUsers.has(user)) rows.push([user, room, "m.tag", JSON.stringify({ tags: t }), pos]);
      }
      await this.write("account_data", rows);
      this.steps.at(-1)!.imported = rows.length;
    }

    // Push rules → m.push_rules account data.
    {
      const enabled = new Map<string, Map<string, boolean>>();
      if (await tableExists(src, "push_rules_enable")) {
        for (const r of await src.all(SYNAPSE_QUERIES.pushRulesEnable)) {
          const u = String(r.user_name);
          if (!enabled.has(u)) enabled.set(u, new Map());
          if (r.enabled !== null) enabled.get(u)!.set(String(r.rule_id), bool(r.enabled) === 1);
        }
      }
      const byUser = new Map<string, SynapsePushRule[]>();
      const report: StepReport = { step: "push rules", read: 0, imported: 0, skipped: 0 };
      this.steps.push(report);
      for (const r of await src.all(SYNAPSE_QUERIES.pushRules)) {
        report.read++;
        const u = String(r.user_name);
        if (!byUser.has(u)) byUser.set(u, []);
        byUser.get(u)!.push({ rule_id: String(r.rule_id), priority_class: Number(r.priority_class), conditions: String(r.conditions), actions: String(r.actions) });
      }
      const rows: SqlParam[][] = [];
      for (const u of new Set([...byUser.keys(), ...enabled.keys()])) {
        if (!this.localUsers.has(u)) continue;
        const c = convertPushRules(u, byUser.get(u) ?? [], enabled.get(u) ?? new Map());
        for (const s of c.skipped) this.skip(`push rules: ${s.replace(/^@\S+ /, "")}`);
        report.skipped += c.skipped.length;
        rows.push([u, "", "m.push_rules", JSON.stringify(c.content), pos]);
      }
      report.imported = rows.length;
      await this.write("account_data", rows);
    }

    await this.step(
      "pushers",
      "pushers",
      SYNAPSE_QUERIES.pushers,
      (rows) => ({
        pushers: rows.flatMap((r) => {
          const u = String(r.user_name);
          if (!this.localUsers.has(u)) return [];
          return [
            [
              u,
              String(r.app_id),
              String(r.pushkey),
              String(r.kind),
              String(r.app_display_name),
              String(r.device_display_name),
              str(r.profile_tag) || null,
              str(r.lang) ?? "en",
              str(r.data) ?? "{}",
              str(r.token_device_id),
              Number(r.ts),
              num(r.last_stream_ordering) ?? 0,
              num(r.failing_since),
            ],
          ];
        }),
      }),
      "pushers",
    );

    await this.step(
      "filters",
      "user_filters",
      SYNAPSE_QUERIES.filters,
      (rows) => ({
        filters: rows.flatMap((r) => {
          const raw = String(r.user_id);
          const id = raw.startsWith("@") ? raw : `@${raw}:${server}`;
          const json = str(r.filter_json);
          if (!this.localUsers.has(id) || json === null) return [];
          return [[id, Number(r.filter_id), json]];
        }),
      }),
      "filters",
    );

    await this.step(
      "registration tokens",
      "registration_tokens",
      SYNAPSE_QUERIES.registrationTokens,
      (rows) => ({ registration_tokens: rows.map((r) => [String(r.token), num(r.uses_allowed), Number(r.pending ?? 0), Number(r.completed ?? 0), num(r.expiry_time), this.now]) }),
      "registration_tokens",
    );
    await this.step("erased users", "erased_users", SYNAPSE_QUERIES.erasedUsers, (rows) => ({ erased_users: rows.map((r) => [String(r.user_id), this.now]) }), "erased_users");

    // ---- rooms
    const creates = new Map<string, { sender: string; ts: number }>();
    for await (const batch of src.batches(SYNAPSE_QUERIES.createEvents)) {
      for (const r of batch) creates.set(String(r.room_id), { sender: String(r.sender), ts: Number(r.origin_server_ts) });
    }
    const roomsWithState = new Set((await src.all(SYNAPSE_QUERIES.roomsWithState)).map((r) => String(r.room_id)));
    const roomVersions = new Map<string, string>();
    await this.step(
      "rooms",
      "rooms",
      SYNAPSE_QUERIES.rooms,
      (rows) => ({
        rooms: rows.flatMap((r) => {
          const id = String(r.room_id);
          const version = str(r.room_version) ?? "1";
          roomVersions.set(id, version);
          const create = creates.get(id);
          if (!create || !roomsWithState.has(id)) {
            this.skip("rooms: known only from an invite or a rejected invite (pending invites are kept)");
            return [];
          }
          this.importedRooms.add(id);
          return [[id, version, str(r.creator) ?? create.sender, create.ts, null, bool(r.is_public)]];
        }),
      }),
      "rooms",
    );
    await this.step(
      "blocked rooms",
      "blocked_rooms",
      SYNAPSE_QUERIES.blockedRooms,
      (rows) => ({ blocked_rooms: rows.map((r) => [String(r.room_id), String(r.user_id), this.now]) }),
      "blocked_rooms",
    );

    // State groups: Synapse's are hs's (a group holds its changes against prev_group).
    const prevGroup = new Map<number, number>();
    for await (const batch of src.batches(SYNAPSE_QUERIES.stateGroupEdges)) for (const r of batch) prevGroup.set(Number(r.state_group), Number(r.prev_state_group));
    const chainLength = new Map<number, number>();
    const knownGroups = new Set<number>();
    await this.step(
      "state groups",
      "state_groups",
      SYNAPSE_QUERIES.stateGroups,
      (rows) => ({
        state_groups: rows.flatMap((r) => {
          const id = Number(r.id);
          const prev = prevGroup.get(id);
          if (prev !== undefined && !knownGroups.has(prev)) {
            this.skip("state groups: delta over a state group that no longer exists");
            return [];
          }
          knownGroups.add(id);
          const len = prev === undefined ? 0 : (chainLength.get(prev) ?? 0) + 1;
          chainLength.set(id, len);
          return [[id, String(r.room_id), prev ?? null, len]];
        }),
      }),
      "state_groups",
    );
    chainLength.clear();
    await this.step(
      "state group entries",
      "state_groups_state",
      SYNAPSE_QUERIES.stateGroupsState,
      (rows) => ({
        state_group_entries: rows.flatMap((r) => (knownGroups.has(Number(r.state_group)) ? [[Number(r.state_group), String(r.type), String(r.state_key), String(r.event_id)]] : [])),
      }),
      "state_group_entries",
    );

    // Redactions Synapse applies: accepted ones, by the same server as the redacted event or
    // checked by the auth rules (Synapse's recheck_redaction, events_worker._maybe_redact_event_row).
    const redactions = new Map<string, { id: string; sender: string; recheck: boolean }>();
    for await (const batch of src.batches(SYNAPSE_QUERIES.redactions)) {
      for (const r of batch) {
        if (r.rejected !== null && r.rejected !== undefined) continue;
        const meta = parseJson(r.internal_metadata);
        if (isObj(meta) && meta.soft_failed === true) continue;
        const recheck = isObj(meta) && meta.recheck_redaction === true;
        const prev = redactions.get(String(r.redacts));
        if (!prev || (prev.recheck && !recheck)) redactions.set(String(r.redacts), { id: String(r.event_id), sender: String(r.sender), recheck });
      }
    }
    const domain = (id: string) => id.slice(id.indexOf(":") + 1);

    const edgeCount = { prev: 0, auth: 0 };
    await this.step(
      "events",
      "events",
      SYNAPSE_QUERIES.events,
      (rows) => {
        const events: SqlParam[][] = [];
        const txns: SqlParam[][] = [];
        // The DAG from the events themselves, as hs stores it for every event (Synapse keeps no
        // edges for outliers and auth edges only for state events).
        const prevEdges: SqlParam[][] = [];
        const authEdges: SqlParam[][] = [];
        const search: Array<{ eventId: string; roomId: string; key: ReturnType<typeof searchableText> & {}; stream: number }> = [];
        for (const r of rows) {
          const json = parseJson(r.json);
          if (!isObj(json)) {
            this.skip("events: JSON that does not parse");
            continue;
          }
          const unsigned = isObj(json.unsigned) ? json.unsigned : {};
          delete json.unsigned;
          const meta = parseJson(r.internal_metadata);
          const m = isObj(meta) ? meta : {};
          const id = String(r.event_id);
          const sender = String(r.sender);
          const outlier = bool(r.outlier);
          const rejected = str(r.rejected_reason);
          const red = redactions.get(id);
          const redactedBy = red && (!red.recheck || domain(red.sender) === domain(sender)) ? red.id : null;
          const replaces = typeof unsigned.replaces_state === "string" ? unsigned.replaces_state : str(r.prev_state);
          const txnId = str(r.txn_id) ?? (typeof m.txn_id === "string" ? m.txn_id : null);
          const deviceId = str(r.txn_device_id);
          const stream = Number(r.stream_ordering);
          events.push([
            id,
            String(r.room_id),
            stream,
            Number(r.depth ?? r.topological_ordering ?? 0),
            String(r.type),
            str(r.state_key),
            sender,
            Number(r.origin_server_ts ?? 0),
            Number(r.received_ts ?? r.origin_server_ts ?? 0),
            JSON.stringify(json),
            outlier,
            m.soft_failed === true ? 1 : 0,
            rejected,
            outlier || rejected !== null ? null : num(r.state_group) !== null && knownGroups.has(Number(r.state_group)) ? Number(r.state_group) : null,
            redactedBy,
            replaces,
            txnId !== null && deviceId !== null ? txnId : null,
            txnId !== null && deviceId !== null ? deviceId : null,
          ]);
          for (const p of new Set(refs(json.prev_events))) prevEdges.push([id, p]);
          for (const a of new Set(refs(json.auth_events))) authEdges.push([id, a]);
          const content = isObj(json.content) ? json.content : {};
          const timeline = !outlier && rejected === null && m.soft_failed !== true;
          if (timeline && redactedBy === null) {
            const type = String(r.type);
            if (type === "m.room.member" && content.membership === "join") {
              this.joinProfiles.set(id, { name: typeof content.displayname === "string" ? content.displayname : null, avatar: typeof content.avatar_url === "string" ? content.avatar_url : null });
            } else if (type === "m.room.join_rules") this.publicityEvents.set(id, content.join_rule === "public");
            else if (type === "m.room.history_visibility") this.publicityEvents.set(id, content.history_visibility === "world_readable");
            const text = searchableText({ type, state_key: str(r.state_key) ?? undefined, content: content as never });
            if (text) search.push({ eventId: id, roomId: String(r.room_id), key: text, stream });
          }
          if (txnId !== null && deviceId !== null && this.localUsers.has(sender)) {
            txns.push([sender, deviceId, txnId, String(r.room_id), id, Number(r.received_ts ?? this.now)]);
          }
        }
        this.eventsImported += events.length;
        if (search.length && this.o.target) {
          const dialect = this.o.target.dialect;
          const entries = search.flatMap((e) => {
            const words = foldedWords(e.key.text.slice(0, 65536));
            return words.length ? [{ eventId: e.eventId, roomId: e.roomId, key: e.key.key, stream: e.stream, text: words.join(" ") }] : [];
          });
          this.batchExtra.push((tx) => insertSearchEntries(tx, dialect, entries));
        }
        edgeCount.prev += prevEdges.length;
        edgeCount.auth += authEdges.length;
        return { events, event_txn_ids: txns, event_edges: prevEdges, event_auth_edges: authEdges };
      },
      "events",
    );
    this.steps.push({ step: "event edges (from the events)", read: edgeCount.prev, imported: edgeCount.prev, skipped: 0 });
    this.steps.push({ step: "auth edges (from the events)", read: edgeCount.auth, imported: edgeCount.auth, skipped: 0 });
    const extremities = new Map<string, string[]>();
    await this.step(
      "forward extremities",
      "event_forward_extremities",
      SYNAPSE_QUERIES.forwardExtremities,
      (rows) => ({
        forward_extremities: rows.flatMap((r) => {
          const room = String(r.room_id);
          if (!this.importedRooms.has(room)) return [];
          if (!extremities.has(room)) extremities.set(room, []);
          extremities.get(room)!.push(String(r.event_id));
          return [[room, String(r.event_id)]];
        }),
      }),
      "forward_extremities",
    );
    await this.step(
      "backward extremities",
      "event_backward_extremities",
      SYNAPSE_QUERIES.backwardExtremities,
      (rows) => ({ backward_extremities: rows.flatMap((r) => (this.importedRooms.has(String(r.room_id)) ? [[String(r.room_id), String(r.event_id)]] : [])) }),
      "backward_extremities",
    );
    const directory: Array<{ userId: string; name: string | null; avatar: string | null }> = [];
    const publicRooms = new Set<string>();
    await this.step(
      "current state",
      "current_state_events",
      SYNAPSE_QUERIES.currentState,
      (rows) => ({
        current_state: rows.flatMap((r) => {
          const room = String(r.room_id);
          if (!this.importedRooms.has(room)) return [];
          const p = this.joinProfiles.get(String(r.event_id));
          if (p && r.type === "m.room.member") directory.push({ userId: String(r.state_key), ...p });
          if (this.publicityEvents.get(String(r.event_id)) === true) publicRooms.add(room);
          return [[room, String(r.type), String(r.state_key), String(r.event_id), str(r.membership)]];
        }),
      }),
      "current_state",
    );
    // The user directory, as hs's event and profile hooks would have built it.
    for (const [userId, p] of this.localProfiles) if (p.name !== null || p.avatar !== null) directory.push({ userId, ...p });
    if (!this.o.check && (directory.length || publicRooms.size)) {
      const repo = new DirectoryRepo(this.o.target!);
      await this.o.target!.transaction(async (tx) => {
        for (const d of directory) await repo.upsertUser(tx, d.userId, d.name, d.avatar, directorySearchText(d.userId, d.name));
        for (const room of publicRooms) await repo.setRoomPublicForUsers(tx, room, true);
      });
    }
    this.steps.push({ step: "user directory", read: directory.length, imported: directory.length, skipped: 0 });
    this.joinProfiles.clear();
    await this.linkCurrentStateGroups(extremities);

    // Memberships of local users; invites to rooms this server is not in become pending invites.
    const inviteEvents = new Map<string, SynapseRow>();
    await this.step(
      "local memberships",
      "local_current_membership",
      SYNAPSE_QUERIES.localMemberships,
      (rows) => {
        const out: SqlParam[][] = [];
        for (const r of rows) {
          const room = String(r.room_id);
          if (!this.localUsers.has(String(r.user_id))) continue;
          if (!this.importedRooms.has(room)) {
            if (r.membership !== "invite") {
              this.skip("memberships: a left or rejected invite to a room this server is not in");
              continue;
            }
            inviteEvents.set(String(r.event_id), r);
          }
          out.push([String(r.user_id), room, String(r.membership), String(r.event_id), Number(r.stream_ordering), bool(r.forgotten)]);
        }
        return { local_memberships: out };
      },
      "local_memberships",
    );
    if (inviteEvents.size) {
      const rows: SqlParam[][] = [];
      for (const [eventId, r] of inviteEvents) {
        const j = await src.all(SYNAPSE_QUERIES.eventJson, [eventId]);
        const ev = parseJson(j[0]?.json);
        const stripped = isObj(ev) && isObj(ev.unsigned) && Array.isArray(ev.unsigned.invite_room_state) ? ev.unsigned.invite_room_state : [];
        rows.push([String(r.room_id), String(r.user_id), eventId, roomVersions.get(String(r.room_id)) ?? "1", JSON.stringify(stripped), this.now]);
      }
      await this.write("remote_invites", rows);
      this.steps.push({ step: "pending invites", read: inviteEvents.size, imported: rows.length, skipped: 0 });
    }

    await this.step(
      "room aliases",
      "room_aliases",
      SYNAPSE_QUERIES.roomAliases,
      (rows) => ({
        room_aliases: rows.flatMap((r) => {
          if (!this.importedRooms.has(String(r.room_id))) {
            this.skip("room aliases: of a room this server is not in");
            return [];
          }
          return [[String(r.room_alias), String(r.room_id), str(r.creator) ?? "", this.now]];
        }),
      }),
      "room_aliases",
    );
    // Appservices: carry on from the event Synapse sent last, with transaction IDs above Synapse's
    // (bridges may ignore a transaction ID they have seen). Synapse deletes the transactions a
    // service acknowledged, and on SQLite its counter restarts from the highest one left, so what
    // the database shows can be below IDs it sent: hs continues from the current time in ms
    // instead, which is above any counter of Synapse's.
    if (await tableExists(src, "application_services_state")) {
      const pos = Number((await src.all(SYNAPSE_QUERIES.appservicePosition))[0]?.stream_ordering ?? 0);
      let maxTxn = Number((await src.all(SYNAPSE_QUERIES.appserviceMaxTxn))[0]?.m ?? 0);
      if (src.dialect === "postgres") maxTxn = Math.max(maxTxn, Number((await src.all(SYNAPSE_QUERIES.appserviceTxnSequence).catch(() => []))[0]?.m ?? 0));
      const rows = (await src.all(SYNAPSE_QUERIES.appserviceStates)).map((r) => [String(r.as_id), pos, Math.max(maxTxn + 1, this.now)] as SqlParam[]);
      await this.write("appservice_states", rows);
      this.steps.push({ step: "appservice positions", read: rows.length, imported: rows.length, skipped: 0 });
    }
    await this.step(
      "appservice room lists",
      "appservice_room_list",
      SYNAPSE_QUERIES.appserviceRoomList,
      (rows) => ({ appservice_room_list: rows.map((r) => [String(r.appservice_id), String(r.network_id), String(r.room_id)]) }),
      "appservice_room_list",
    );
    await this.step(
      "receipts",
      "receipts_linearized",
      SYNAPSE_QUERIES.receipts,
      (rows) => ({
        receipts: rows.flatMap((r) => {
          if (r.stream_ordering === null || r.stream_ordering === undefined) {
            this.skip("receipts: for an event this server does not have");
            return [];
          }
          if (!this.importedRooms.has(String(r.room_id))) return [];
          const data = parseJson(r.data);
          const ts = isObj(data) && typeof data.ts === "number" ? data.ts : 0;
          return [[String(r.room_id), String(r.receipt_type), String(r.user_id), "", String(r.event_id), ts, pos, Number(r.stream_ordering)]];
        }),
      }),
      "receipts",
    );
    // Synapse stores its two most common action lists as "" (push/push_tools.py _serialize_action).
    const DEFAULT_NOTIF = '["notify",{"set_tweak":"highlight","value":false}]';
    const DEFAULT_HIGHLIGHT = '["notify",{"set_tweak":"sound","value":"default"},{"set_tweak":"highlight"}]';
    await this.step(
      "push actions (unread counts)",
      "event_push_actions",
      SYNAPSE_QUERIES.pushActions,
      (rows) => ({
        event_push_actions: rows.flatMap((r) => {
          if (!this.importedRooms.has(String(r.room_id)) || !this.localUsers.has(String(r.user_id))) return [];
          if (redactions.has(String(r.event_id))) {
            // Synapse drops the push actions of a redacted event, unless the redaction raced with them.
            this.skip("push actions: of a redacted event");
            return [];
          }
          const highlight = bool(r.highlight);
          const actions = str(r.actions) || (highlight ? DEFAULT_HIGHLIGHT : DEFAULT_NOTIF);
          return [[String(r.room_id), String(r.event_id), String(r.user_id), Number(r.stream_ordering), str(r.thread_root) ?? "main", bool(r.notif), highlight, actions]];
        }),
      }),
      "event_push_actions",
    );
    await this.step(
      "event reports",
      "event_reports",
      SYNAPSE_QUERIES.eventReports,
      (rows) => ({
        event_reports: rows.map((r) => {
          const c = parseJson(r.content);
          const score = isObj(c) && typeof c.score === "number" ? c.score : null;
          return [Number(r.id), Number(r.received_ts), String(r.room_id), String(r.event_id), String(r.user_id), str(r.reason), score];
        }),
      }),
      "event_reports",
    );

    // ---- end-to-end encryption
    const knownDevice = (r: SynapseRow) => this.devices.has(`${r.user_id}\u0000${r.device_id}`);
    await this.step(
      "device keys",
      "e2e_device_keys_json",
      SYNAPSE_QUERIES.deviceKeys,
      (rows) => ({
        e2e_device_keys: rows.flatMap((r) => {
          if (!knownDevice(r)) {
            this.skip("device keys: of a device that no longer exists");
            return [];
          }
          return [[String(r.user_id), String(r.device_id), String(r.key_json), Number(r.ts_added_ms)]];
        }),
      }),
      "e2e_device_keys",
    );
    {
      let seq = 0;
      await this.step(
        "one-time keys",
        "e2e_one_time_keys_json",
        SYNAPSE_QUERIES.oneTimeKeys,
        (rows) => ({
          e2e_one_time_keys: rows.flatMap((r) =>
            knownDevice(r) ? [[String(r.user_id), String(r.device_id), String(r.algorithm), String(r.key_id), String(r.key_json), ++seq]] : [],
          ),
        }),
        "e2e_one_time_keys",
      );
    }
    await this.step(
      "fallback keys",
      "e2e_fallback_keys_json",
      SYNAPSE_QUERIES.fallbackKeys,
      (rows) => ({
        e2e_fallback_keys: rows.flatMap((r) =>
          knownDevice(r) ? [[String(r.user_id), String(r.device_id), String(r.algorithm), String(r.key_id), String(r.key_json), bool(r.used)]] : [],
        ),
      }),
      "e2e_fallback_keys",
    );
    await this.step(
      "cross-signing keys",
      "e2e_cross_signing_keys",
      SYNAPSE_QUERIES.crossSigningKeys,
      (rows) => ({
        e2e_cross_signing_keys: rows.flatMap((r) => {
          const k = parseJson(r.keydata);
          const keyId = isObj(k) && isObj(k.keys) ? Object.keys(k.keys)[0] : undefined;
          if (!keyId?.startsWith("ed25519:")) {
            this.skip("cross-signing keys: without an ed25519 key");
            return [];
          }
          return [[String(r.user_id), String(r.keytype), keyId.slice("ed25519:".length), String(r.keydata)]];
        }),
      }),
      "e2e_cross_signing_keys",
    );
    await this.step(
      "cross-signing signatures",
      "e2e_cross_signing_signatures",
      SYNAPSE_QUERIES.crossSigningSignatures,
      (rows) => ({
        e2e_cross_signing_signatures: rows.map((r) => [String(r.target_user_id), String(r.target_device_id), String(r.user_id), String(r.key_id), String(r.signature)]),
      }),
      "e2e_cross_signing_signatures",
    );
    await this.step(
      "key backup versions",
      "e2e_room_keys_versions",
      SYNAPSE_QUERIES.roomKeyVersions,
      (rows) => ({
        e2e_room_keys_versions: rows.map((r) => [String(r.user_id), Number(r.version), String(r.algorithm), String(r.auth_data), num(r.etag) ?? 0, bool(r.deleted)]),
      }),
      "e2e_room_keys_versions",
    );
    await this.step(
      "key backups",
      "e2e_room_keys",
      SYNAPSE_QUERIES.roomKeys,
      (rows) => ({
        e2e_room_keys: rows.map((r) => [
          String(r.user_id),
          Number(r.version),
          String(r.room_id),
          String(r.session_id),
          num(r.first_message_index) ?? 0,
          num(r.forwarded_count) ?? 0,
          bool(r.is_verified),
          String(r.session_data),
        ]),
      }),
      "e2e_room_keys",
    );
    await this.step(
      "dehydrated devices",
      "dehydrated_devices",
      SYNAPSE_QUERIES.dehydratedDevices,
      (rows) => ({ dehydrated_devices: rows.map((r) => [String(r.user_id), String(r.device_id), String(r.device_data), this.now]) }),
      "dehydrated_devices",
    );
    {
      let n = 0;
      await this.step(
        "to-device messages",
        "device_inbox",
        SYNAPSE_QUERIES.deviceInbox,
        (rows) => ({
          device_inbox: rows.flatMap((r) => {
            const m = parseJson(r.message_json);
            if (!knownDevice(r) || !isObj(m) || typeof m.type !== "string") {
              this.skip("to-device messages: for a device that no longer exists");
              return [];
            }
            return [[String(r.user_id), String(r.device_id), pos + n++, String(m.sender ?? ""), m.type, JSON.stringify(isObj(m.content) ? m.content : {})]];
          }),
        }),
        "device_inbox",
      );
    }
    // Every local user with devices gets a device-list change, so that clients and other servers
    // refetch the lists instead of trusting stream positions that were Synapse's.
    {
      const users = new Set([...this.devices].map((k) => k.split("\u0000")[0]!));
      const rows = [...users].map((u) => [pos, u] as SqlParam[]);
      await this.write("device_list_changes", rows);
      this.steps.push({ step: "device list changes", read: users.size, imported: rows.length, skipped: 0 });
    }

    // ---- media
    await this.importMedia();

    // ---- federation
    await this.step(
      "destination retry state",
      "destinations",
      SYNAPSE_QUERIES.destinations,
      (rows) => ({
        federation_destinations: rows.map((r) => {
          const interval = Number(r.retry_interval);
          const failures = Math.max(1, Math.round(Math.log2(Math.max(1, interval / 600_000))) + 1);
          return [String(r.destination), failures, Number(r.retry_last_ts ?? this.now) + interval];
        }),
      }),
      "federation_destinations",
    );

    this.notes.push(
      "not carried over: server-key and remote device-list caches (refetched), the outbound federation queue (peers catch up), URL previews, " +
        "thumbnails (made again on first request), presence, unread counts Synapse had already summarised (event_push_summary), " +
        "threepids (hs has no e-mail/phone login), room statistics, refresh-token expiry times, ratelimit overrides, SSO/OIDC mappings; appservice registration files must be added to hs's config",
    );
    const report: ImportReport = {
      schemaVersion,
      steps: this.steps,
      skipReasons: [...this.skips].filter(([, n]) => n > 0).map(([reason, rows]) => ({ reason, rows })),
      notes: this.notes,
      rooms: [],
      problems: [],
      events: this.eventsImported,
      mediaBytes: this.mediaBytes,
      seconds: 0,
    };
    if (!this.o.check) {
      await finishImport(this.o.target!);
      const t0 = performance.now();
      await this.verify(report);
      this.notes.push(`verification took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    report.seconds = (performance.now() - start) / 1000;
    return report;
  }

  /**
   * Each room's current_state_group: the state group of its forward extremity when that equals
   * Synapse's current state (the common case), else a new full snapshot of the current state.
   */
  private async linkCurrentStateGroups(extremities: Map<string, string[]>): Promise<void> {
    if (this.o.check) return;
    const db = this.o.target!;
    const repo = new RoomsRepo(db);
    await repo.init();
    const current = await currentStateByRoom(db);
    let reused = 0;
    let made = 0;
    for (const room of this.importedRooms) {
      const state = current.get(room) ?? [];
      const want = new Map(state.map(([t, k, e]) => [`${t}\u0000${k}`, e]));
      let group: number | null = null;
      const ext = extremities.get(room) ?? [];
      const rows = await repo.getEvents(ext);
      for (const e of rows.values()) {
        if (e.state_group === null) continue;
        const have = await repo.stateOfGroup(Number(e.state_group));
        if (have.size === want.size && [...want].every(([k, v]) => have.get(k) === v)) {
          group = Number(e.state_group);
          break;
        }
      }
      if (group !== null) reused++;
      else {
        made++;
        group = await db.transaction((tx) => repo.insertStateGroup(tx, room, null, state, async () => new Map()));
      }
      await db.transaction((tx) => setCurrentStateGroup(tx, room, group!));
    }
    this.steps.push({ step: "current state groups", read: this.importedRooms.size, imported: reused + made, skipped: 0 });
    if (made) this.notes.push(`${made} room(s) had several forward extremities: their current state became a new state group`);
  }

  private async importMedia(): Promise<void> {
    const src = this.o.source;
    const from = this.o.synapseMediaPath;
    if (!from || !this.o.hsMediaPath) {
      this.notes.push("media: no Synapse media_store_path given; media not imported");
      return;
    }
    const store = new FileStore(this.o.hsMediaPath);
    if (!this.o.check) store.init(false);
    const copy = async (path: string): Promise<{ sha256: string; size: number } | null> => {
      if (!existsSync(path)) return null;
      if (this.o.check) {
        const f = Bun.file(path);
        return { sha256: "", size: f.size };
      }
      const pending = await store.receive(Bun.file(path).stream(), Number.MAX_SAFE_INTEGER);
      await store.withLock(pending.sha256, () => pending.place());
      return { sha256: pending.sha256, size: pending.size };
    };
    const split = (id: string) => [id.slice(0, 2), id.slice(2, 4), id.slice(4)] as const;
    const server = this.o.serverName;
    await this.step(
      "local media",
      "local_media_repository",
      SYNAPSE_QUERIES.localMedia,
      async (rows) => {
        const out: SqlParam[][] = [];
        for (const r of rows) {
          const id = String(r.media_id);
          if (r.url_cache !== null && r.url_cache !== undefined) {
            this.skip("media: URL preview images (previews are fetched again)");
            continue;
          }
          if (!/^[A-Za-z0-9_-]{5,}$/.test(id)) {
            this.skip("media: an ID that is not a file name");
            continue;
          }
          const f = await copy(join(from, "local_content", ...split(id)));
          if (!f) {
            this.skip("media: file missing from the Synapse media store");
            continue;
          }
          this.mediaBytes += f.size;
          const created = Number(r.created_ts ?? this.now);
          out.push([server, id, str(r.user_id), str(r.media_type), str(r.upload_name), f.sha256 || null, f.size, created, Number(r.last_access_ts ?? created), str(r.quarantined_by), bool(r.safe_from_quarantine), 0]);
        }
        return { media: out };
      },
      "media",
    );
    await this.step(
      "remote media cache",
      "remote_media_cache",
      SYNAPSE_QUERIES.remoteMedia,
      async (rows) => {
        const out: SqlParam[][] = [];
        for (const r of rows) {
          const origin = String(r.media_origin);
          const fsid = String(r.filesystem_id ?? "");
          if (!/^[A-Za-z0-9_-]{5,}$/.test(fsid) || origin.includes("/") || origin.startsWith(".")) {
            this.skip("remote media: an unusable file name");
            continue;
          }
          const f = await copy(join(from, "remote_content", origin, ...split(fsid)));
          if (!f) {
            this.skip("remote media: file missing from the Synapse media store (fetched again on demand)");
            continue;
          }
          this.mediaBytes += f.size;
          const created = Number(r.created_ts ?? this.now);
          out.push([origin, String(r.media_id), null, str(r.media_type), str(r.upload_name), f.sha256 || null, f.size, created, Number(r.last_access_ts ?? created), str(r.quarantined_by), 0, 0]);
        }
        return { media: out };
      },
      "media",
    );
  }

  /** Compares what hs now has with what Synapse had: counts per step, events and current state per room. */
  private async verify(report: ImportReport): Promise<void> {
    const db = this.o.target!;
    const src = this.o.source;
    const hsEvents = await eventCountsByRoom(db);
    const synEvents = new Map((await src.all(timelineCountsQuery(src.dialect))).map((r) => [String(r.room_id), Number(r.n)]));
    const hsState = await currentStateByRoom(db);
    const synState = new Map<string, Array<[string, string, string]>>();
    for await (const batch of src.batches(SYNAPSE_QUERIES.currentStateOrdered)) {
      for (const r of batch) {
        const room = String(r.room_id);
        if (!this.importedRooms.has(room)) continue;
        if (!synState.has(room)) synState.set(room, []);
        synState.get(room)!.push([String(r.type), String(r.state_key), String(r.event_id)]);
      }
    }
    for (const room of [...this.importedRooms].sort()) {
      // Both sides sorted the same way (JS comparison, not the databases' collations).
      const sort = (l: Array<[string, string, string]>) => [...l].sort((a, b) => (a.join("\u0000") < b.join("\u0000") ? -1 : 1));
      const check: RoomCheck = {
        roomId: room,
        synapseEvents: synEvents.get(room) ?? 0,
        hsEvents: hsEvents.get(room) ?? 0,
        synapseStateHash: stateHash(sort(synState.get(room) ?? [])),
        hsStateHash: stateHash(sort(hsState.get(room) ?? [])),
      };
      report.rooms.push(check);
      if (check.synapseEvents !== check.hsEvents) report.problems.push(`${room}: ${check.synapseEvents} events in Synapse, ${check.hsEvents} in hs`);
      if (check.synapseStateHash !== check.hsStateHash) report.problems.push(`${room}: current state differs`);
    }
    for (const s of report.steps) {
      const table = STEP_TABLES[s.step];
      if (!table) continue;
      const n = await countRows(db, table);
      const expected = report.steps.filter((x) => STEP_TABLES[x.step] === table).reduce((a, x) => a + x.imported, 0);
      if (n < expected) report.problems.push(`${table}: ${n} rows, expected ${expected}`);
    }
    const dangling = await danglingStateGroups(db);
    if (dangling) report.problems.push(`${dangling} event(s) point at a missing state group`);
  }
}

/** The hs table each step fills (for the row-count check). */
const STEP_TABLES: Record<string, ImportTable> = {
  users: "users",
  devices: "devices",
  "access tokens": "access_tokens",
  "refresh tokens": "refresh_tokens",
  rooms: "rooms",
  events: "events",
  "state groups": "state_groups",
  "current state": "current_state",
  "local memberships": "local_memberships",
  "room aliases": "room_aliases",
  receipts: "receipts",
  "device keys": "e2e_device_keys",
  "key backups": "e2e_room_keys",
};
