// Application services (spec: application-service-api.md): the registered services, their
// clients' authentication (as_token, `user_id` masquerading, `device_id`), registration and login
// of their users (m.login.application_service), exclusive namespaces, user and alias queries,
// pings, third-party lookups and published room directories. Transactions are sent by
// sender.ts, one AppserviceSender per service.
import { MatrixError, missingParam } from "../../protocol/errors.ts";
import { isValidDeviceId, isValidRoomId, isValidUserLocalpart, parseRoomAlias, parseUserId } from "../../protocol/ids.ts";
import type { JsonObject } from "../../protocol/events.ts";
import type { AppservicesRepo } from "../../storage/repos/appservices.ts";
import type { Transaction } from "../../storage/engines/db.ts";
import { logger } from "../../util/log.ts";
import type { AccountsService, LoginContext } from "../accounts.ts";
import { sha256Hex, type Requester, type TokenResolver } from "../auth.ts";
import type { RegisterResult, RegistrationService } from "../registration.ts";
import { describeResult, type AppserviceHttp, type AsResult } from "./http.ts";
import type { ApplicationService } from "./registration.ts";
import type { AppserviceSender } from "./sender.ts";
import { isJsonObject as isObject } from "../../protocol/events.ts";

const log = logger("appservices");

export const LOGIN_TYPE_APPLICATION_SERVICE = "m.login.application_service";

/** How long a user or alias query, a ping or a third-party lookup may take. */
const QUERY_TIMEOUT_MS = 30_000;

const enc = encodeURIComponent;

export interface AppservicesDeps {
  serverName: string;
  services: readonly ApplicationService[];
  repo: AppservicesRepo;
  accounts: AccountsService;
  registration: RegistrationService;
  http: AppserviceHttp;
  transaction: Transaction;
}

export class Appservices {
  private readonly byTokenHash = new Map<string, ApplicationService>();
  private readonly byId = new Map<string, ApplicationService>();
  /** Set by the composition root: one transaction sender per service with a URL. */
  readonly senders = new Map<string, AppserviceSender>();

  constructor(private readonly d: AppservicesDeps) {
    for (const as of d.services) {
      this.byTokenHash.set(sha256Hex(as.asToken), as);
      this.byId.set(as.id, as);
    }
  }

  get list(): readonly ApplicationService[] {
    return this.d.services;
  }

  find(id: string): ApplicationService | undefined {
    return this.byId.get(id);
  }

  /** The service whose as_token this is. */
  byToken(token: string): ApplicationService | undefined {
    return this.byTokenHash.get(sha256Hex(token));
  }

  /** Creates each service's sender user when missing (as Synapse does at start-up). */
  async ensureSenderUsers(): Promise<void> {
    for (const as of this.d.services) {
      if (await this.d.accounts.findUser(as.sender)) continue;
      try {
        await this.d.registration.register({ localpart: as.senderLocalpart, passwordHash: null, userType: "bot", session: false });
        log.info("created application service sender", { appservice: as.id, user_id: as.sender });
      } catch (e) {
        if (!(e instanceof MatrixError && e.errcode === "M_USER_IN_USE")) throw e;
      }
    }
  }

  // ------------------------------------------------------------------ client authentication

  /**
   * AuthService token resolver: an as_token authenticates as the sender, or as `user_id` when that
   * user is in the service's namespace and registered; `device_id` must be one of that user's.
   */
  readonly tokenResolver: TokenResolver = async (token, opts) => {
    const as = this.byToken(token);
    if (!as) return null;
    const userId = opts.userIdParam ?? as.sender;
    if (opts.userIdParam !== undefined) {
      if (!parseUserId(userId)) throw new MatrixError("M_INVALID_PARAM", "Invalid user_id");
      if (!as.isInterestedInUser(userId)) throw new MatrixError("M_FORBIDDEN", `Application service cannot masquerade as this user (${userId})`);
    }
    const user = await this.d.accounts.findUser(userId);
    if (!user) throw new MatrixError("M_FORBIDDEN", `Application service has not registered this user (${userId})`);
    if (user.deactivated) throw new MatrixError("M_FORBIDDEN", `User ${userId} is deactivated`);
    let deviceId: string | null = null;
    if (opts.deviceIdParam !== undefined) {
      if (!(await this.d.accounts.store.findDevice(userId, opts.deviceIdParam))) {
        throw new MatrixError("M_UNKNOWN_DEVICE", `Device ${opts.deviceIdParam} does not belong to ${userId}`);
      }
      deviceId = opts.deviceIdParam;
    }
    const r: Requester = { userId, deviceId, isGuest: false, isAdmin: user.isAdmin, tokenHash: sha256Hex(token), appserviceId: as.id };
    if (!as.rateLimited) r.rateLimitExempt = true;
    return r;
  };

  private requireToken(token: string | undefined): ApplicationService {
    if (token === undefined) throw new MatrixError("M_MISSING_TOKEN", "m.login.application_service needs the application service's as_token");
    const as = this.byToken(token);
    if (!as) throw new MatrixError("M_UNKNOWN_TOKEN", "Unrecognised application service token");
    return as;
  }

  // ------------------------------------------------------------------ namespaces

  /** RegistrationService.exclusiveUserIdChecks: the ID is reserved by some service. */
  readonly isExclusiveUser = (userId: string): boolean => this.d.services.some((as) => as.isExclusiveUser(userId));

  /**
   * M_EXCLUSIVE when `userId` may not create or delete `alias`: the alias lies in a service's
   * exclusive namespace and the user is not one of that service's users.
   */
  checkAliasCreation(alias: string, userId: string): void {
    const owners = this.d.services.filter((as) => as.isExclusiveAlias(alias));
    if (owners.length > 0 && !owners.some((as) => as.isInterestedInUser(userId))) {
      throw new MatrixError("M_EXCLUSIVE", "This alias is reserved by an application service.");
    }
    // A service's own users may create aliases only inside its namespace (Synapse's rule).
    const ownService = this.d.services.find((as) => as.isExclusiveUser(userId));
    if (ownService && ownService.namespaces.aliases.length > 0 && !ownService.isAliasInNamespace(alias) && owners.length === 0) {
      throw new MatrixError("M_EXCLUSIVE", "This application service has not reserved this kind of alias.");
    }
  }

  // ------------------------------------------------------------------ registration and login

  /** POST /register with type m.login.application_service (no user-interactive auth). */
  async register(token: string | undefined, body: JsonObject): Promise<RegisterResult> {
    const as = this.requireToken(token);
    const username = body.username ?? body.user;
    if (username === undefined) throw missingParam("Missing 'username'");
    if (typeof username !== "string" || username.length > 512) throw new MatrixError("M_BAD_JSON", "'username' must be a string");
    if (!isValidUserLocalpart(username)) throw new MatrixError("M_INVALID_USERNAME", "User ID can only contain characters a-z, 0-9, or '=_-./+'");
    const userId = `@${username}:${this.d.serverName}`;
    if (!parseUserId(userId)) throw new MatrixError("M_INVALID_USERNAME", "User ID is too long");
    if (!as.isInterestedInUser(userId)) throw new MatrixError("M_EXCLUSIVE", "This user ID is not in the application service's namespace.");
    if (this.d.services.some((o) => o !== as && o.isExclusiveUser(userId))) {
      throw new MatrixError("M_EXCLUSIVE", "This user ID is reserved by another application service.");
    }
    const opt = (k: string) => {
      const v = body[k];
      if (v !== undefined && typeof v !== "string") throw new MatrixError("M_BAD_JSON", `'${k}' must be a string`);
      return v as string | undefined;
    };
    const deviceId = opt("device_id");
    const initialDeviceDisplayName = opt("initial_device_display_name");
    if (body.inhibit_login !== undefined && typeof body.inhibit_login !== "boolean") throw new MatrixError("M_BAD_JSON", "'inhibit_login' must be a boolean");
    if (body.refresh_token !== undefined && typeof body.refresh_token !== "boolean") throw new MatrixError("M_BAD_JSON", "'refresh_token' must be a boolean");
    return this.d.registration.register({
      localpart: username,
      passwordHash: null,
      session: body.inhibit_login === true ? false : { deviceId, initialDeviceDisplayName, refresh: body.refresh_token === true },
    });
  }

  /** POST /login with type m.login.application_service: the user named, in the service's namespace. */
  readonly login = async (body: Record<string, unknown>, ctx: LoginContext): Promise<string> => {
    const as = this.requireToken(ctx.accessToken);
    const named = this.d.accounts.identifierUser(body);
    const userId = named.startsWith("@") ? named : `@${named}:${this.d.serverName}`;
    const parsed = parseUserId(userId);
    if (!parsed || parsed.serverName !== this.d.serverName) throw new MatrixError("M_FORBIDDEN", "Invalid user ID");
    if (!as.isInterestedInUser(userId)) throw new MatrixError("M_EXCLUSIVE", "This user is not in the application service's namespace.", {}, 403);
    const user = await this.d.accounts.findUser(userId);
    if (!user) throw new MatrixError("M_FORBIDDEN", "Unknown user");
    if (user.deactivated) throw new MatrixError("M_USER_DEACTIVATED", "This account has been deactivated");
    return userId;
  };

  // ------------------------------------------------------------------ devices

  /**
   * PUT /devices/{deviceId} by an application service (spec v1.17 "Device management"): creates
   * the device of the (masqueraded) user when missing, or renames it.
   */
  async putDevice(r: Requester, deviceId: string, displayName: string | undefined): Promise<void> {
    if (!r.appserviceId) throw new MatrixError("M_FORBIDDEN", "Only application services can create devices");
    if (!isValidDeviceId(deviceId)) throw new MatrixError("M_INVALID_PARAM", "Invalid device ID");
    const created = await this.d.transaction((tx) => this.d.accounts.store.insertDevice(tx, r.userId, deviceId, displayName?.slice(0, 100) ?? null, Date.now()));
    if (!created && displayName !== undefined) await this.d.accounts.updateDevice(r.userId, deviceId, displayName);
  }

  // ------------------------------------------------------------------ queries

  private async askServices(targets: ApplicationService[], path: string, legacyPath: string): Promise<boolean> {
    let timedOut = false;
    for (const as of targets) {
      const res = await this.d.http.request(as, { method: "GET", path, legacyPath, timeoutMs: QUERY_TIMEOUT_MS });
      if (res.kind === "ok") return true;
      if (res.kind === "timeout") timedOut = true;
      if (res.kind !== "status" || res.status !== 404) log.warn("appservice query failed", { appservice: as.id, path, error: describeResult(res) });
    }
    if (timedOut) throw new MatrixError("M_UNKNOWN", "The application service did not answer in time", {}, 408);
    return false;
  }

  /**
   * Asks the services whose users namespace covers a local user that does not exist whether it
   * should (GET /users/{userId}); true when one said yes (and so should have registered it).
   */
  async queryUser(userId: string): Promise<boolean> {
    const targets = this.d.services.filter((as) => as.url !== null && as.isUserInNamespace(userId));
    if (targets.length === 0) return false;
    return this.askServices(targets, `/users/${enc(userId)}`, `/users/${enc(userId)}`);
  }

  /** The same for an unknown local alias (GET /rooms/{roomAlias}). */
  async queryAlias(alias: string): Promise<boolean> {
    if (!parseRoomAlias(alias)) return false;
    const targets = this.d.services.filter((as) => as.url !== null && as.isAliasInNamespace(alias));
    if (targets.length === 0) return false;
    return this.askServices(targets, `/rooms/${enc(alias)}`, `/rooms/${enc(alias)}`);
  }

  // ------------------------------------------------------------------ ping

  /** POST /_matrix/client/v1/appservice/{appserviceId}/ping. */
  async ping(r: Requester, appserviceId: string, transactionId: string | undefined): Promise<{ duration_ms: number }> {
    const as = this.byId.get(appserviceId);
    if (!as || r.appserviceId !== appserviceId) throw new MatrixError("M_FORBIDDEN", "Provided access token is not the appservice's as_token");
    if (as.url === null) throw new MatrixError("M_URL_NOT_SET", "Application service doesn't have a URL configured");
    const start = performance.now();
    const res = await this.d.http.request(as, {
      method: "POST",
      path: "/ping",
      body: transactionId === undefined ? {} : { transaction_id: transactionId },
      timeoutMs: QUERY_TIMEOUT_MS,
    });
    const duration = Math.round(performance.now() - start);
    switch (res.kind) {
      case "ok":
        // It is reachable: retry pending transactions now rather than after the back-off.
        this.senders.get(as.id)?.kick(true);
        return { duration_ms: duration };
      case "status":
        throw new MatrixError("M_BAD_STATUS", `Ping returned status ${res.status}`, { status: res.status, body: res.text }, 502);
      case "timeout":
        throw new MatrixError("M_CONNECTION_TIMEOUT", "Connection to application service timed out", {}, 504);
      case "network":
        throw new MatrixError("M_CONNECTION_FAILED", `Connection to application service failed: ${res.message}`, {}, 502);
    }
  }

  // ------------------------------------------------------------------ published room directories

  /** PUT /directory/list/appservice/{networkId}/{roomId}. */
  async setRoomListed(r: Requester, networkId: string, roomId: string, visibility: unknown): Promise<void> {
    if (!r.appserviceId) throw new MatrixError("M_FORBIDDEN", "Only application services can use this endpoint");
    if (!networkId || networkId.length > 255) throw new MatrixError("M_INVALID_PARAM", "Invalid network ID");
    if (!isValidRoomId(roomId)) throw new MatrixError("M_INVALID_PARAM", "Invalid room ID");
    if (visibility === undefined) throw missingParam("Missing 'visibility'");
    if (visibility !== "public" && visibility !== "private") throw new MatrixError("M_INVALID_PARAM", "'visibility' must be public or private");
    await this.d.repo.setRoomListed(r.appserviceId, networkId, roomId, visibility === "public");
  }

  /**
   * Room IDs published by services: those of one third-party instance (`appserviceId|networkId`,
   * the instance_id of /thirdparty/protocols), or of every service when `instanceId` is undefined.
   * For POST /publicRooms with third_party_instance_id / include_all_networks.
   */
  async publishedRooms(instanceId?: string): Promise<string[]> {
    if (instanceId === undefined) return [...new Set((await this.d.repo.listedRooms()).map((r) => r.room_id))];
    const bar = instanceId.indexOf("|");
    if (bar < 0) return [];
    return (await this.d.repo.listedRooms(instanceId.slice(0, bar), instanceId.slice(bar + 1))).map((r) => r.room_id);
  }

  // ------------------------------------------------------------------ third-party lookups

  private withProtocol(protocol: string): ApplicationService[] {
    return this.d.services.filter((as) => as.url !== null && as.protocols.includes(protocol));
  }

  private async thirdParty(as: ApplicationService, path: string, query?: URLSearchParams): Promise<unknown> {
    const res: AsResult = await this.d.http.request(as, {
      method: "GET",
      path: `/thirdparty${path}`,
      legacyPath: `/_matrix/app/unstable/thirdparty${path}`,
      query,
      timeoutMs: QUERY_TIMEOUT_MS,
    });
    if (res.kind === "ok") return res.body;
    if (!(res.kind === "status" && res.status === 404)) log.warn("appservice third-party lookup failed", { appservice: as.id, path, error: describeResult(res) });
    return undefined;
  }

  /** One service's protocol metadata with instance IDs added (`<appservice id>|<network_id>`). */
  private async protocolOf(as: ApplicationService, protocol: string): Promise<JsonObject | undefined> {
    const body = await this.thirdParty(as, `/protocol/${enc(protocol)}`);
    if (!isObject(body)) return undefined;
    const instances = Array.isArray(body.instances) ? body.instances.filter(isObject) : [];
    return {
      ...(body as JsonObject),
      instances: instances.map((i) => ({ ...(i as JsonObject), instance_id: `${as.id}|${typeof i.network_id === "string" ? i.network_id : ""}` })),
    };
  }

  /** GET /thirdparty/protocols: every protocol of every service that answers. */
  async protocols(): Promise<Record<string, JsonObject>> {
    const out: Record<string, JsonObject> = {};
    for (const as of this.d.services) {
      if (as.url === null) continue;
      for (const p of as.protocols) {
        const meta = await this.protocolOf(as, p);
        if (!meta) continue;
        const prev = out[p];
        if (prev) prev.instances = [...(prev.instances as JsonObject[]), ...(meta.instances as JsonObject[])];
        else out[p] = meta;
      }
    }
    return out;
  }

  /** GET /thirdparty/protocol/{protocol}. */
  async protocol(protocol: string): Promise<JsonObject> {
    let out: JsonObject | undefined;
    for (const as of this.withProtocol(protocol)) {
      const meta = await this.protocolOf(as, protocol);
      if (!meta) continue;
      if (out) out.instances = [...(out.instances as JsonObject[]), ...(meta.instances as JsonObject[])];
      else out = meta;
    }
    if (!out) throw new MatrixError("M_NOT_FOUND", `Unknown protocol ${protocol}`);
    return out;
  }

  private static passThrough(query: URLSearchParams): URLSearchParams {
    const q = new URLSearchParams();
    for (const [k, v] of query) if (k !== "access_token" && k !== "user_id") q.append(k, v);
    return q;
  }

  private async gather(targets: ApplicationService[], path: string, query: URLSearchParams, what: string): Promise<JsonObject[]> {
    const out: JsonObject[] = [];
    for (const as of targets) {
      const body = await this.thirdParty(as, path, Appservices.passThrough(query));
      if (Array.isArray(body)) for (const item of body) if (isObject(item)) out.push(item as JsonObject);
    }
    if (out.length === 0) throw new MatrixError("M_NOT_FOUND", `No ${what} found`);
    return out;
  }

  /** GET /thirdparty/location/{protocol} and /thirdparty/user/{protocol}. */
  async lookupByProtocol(kind: "location" | "user", protocol: string, query: URLSearchParams): Promise<JsonObject[]> {
    const targets = this.withProtocol(protocol);
    if (targets.length === 0) throw new MatrixError("M_NOT_FOUND", `Unknown protocol ${protocol}`);
    return this.gather(targets, `/${kind}/${enc(protocol)}`, query, kind === "location" ? "portal rooms" : "users");
  }

  /** GET /thirdparty/location?alias= and /thirdparty/user?userid= (reverse lookups). */
  async reverseLookup(kind: "location" | "user", query: URLSearchParams): Promise<JsonObject[]> {
    const param = kind === "location" ? "alias" : "userid";
    const v = query.get(param);
    if (v === null || v === "") throw missingParam(`Missing '${param}'`);
    const targets = this.d.services.filter((as) => as.url !== null && as.protocols.length > 0);
    return this.gather(targets, `/${kind}`, query, kind === "location" ? "locations" : "users");
  }
}
