// Dehydrated devices (MSC3814 v2, at /_matrix/client/unstable/org.matrix.msc3814.v1, as matrix-js-sdk
// and Element use it): a client parks an extra device on the server, with its keys and an encrypted
// pickle of its private state (`device_data`), so that room keys sent while the user has no client
// open still reach them. The next client logs in, fetches the device (GET), decrypts the pickle
// with a key from secret storage, reads the to-device messages sent to it (POST .../events, paged by
// `next_batch`) and uploads a fresh dehydrated device (PUT), which replaces the old one.
//
// The dehydrated device is an ordinary device (devices row, keys, inbox) that no access token is
// bound to: deleting it (DELETE, a replacement, DELETE /devices/{id}, deactivation) goes through
// AccountsService.deleteDevices, which removes its keys and messages and announces the change.
import { isJsonRecord, type JsonRecord } from "../../core/e2ee-keys.ts";
import { MatrixError, notFound } from "../../protocol/errors.ts";
import { isValidDeviceId } from "../../protocol/ids.ts";
import type { Transaction } from "../../storage/engines/db.ts";
import type { E2eeRepo } from "../../storage/repos/e2ee.ts";
import type { AccountsService } from "../accounts.ts";
import type { E2eeKeys } from "./keys.ts";
import type { ToDeviceEvent } from "./to-device.ts";

/** To-device messages per page of POST /dehydrated_device/{deviceId}/events. */
export const DEHYDRATED_EVENTS_PER_PAGE = 100;
/** The pickle is opaque to the server, but not unbounded. */
const MAX_DEVICE_DATA_BYTES = 256 * 1024;

export interface DehydratedDevicesDeps {
  transaction: Transaction;
  repo: E2eeRepo;
  accounts: AccountsService;
  keys: E2eeKeys;
  now?: () => number;
}

export class DehydratedDevices {
  private readonly now: () => number;

  constructor(private readonly d: DehydratedDevicesDeps) {
    this.now = d.now ?? Date.now;
  }

  /** GET: the user's dehydrated device, or 404 M_NOT_FOUND. */
  async get(userId: string): Promise<{ device_id: string; device_data: JsonRecord }> {
    const dev = await this.d.repo.dehydratedDevice(userId);
    if (!dev) throw notFound("No dehydrated device available");
    return { device_id: dev.deviceId, device_data: JSON.parse(dev.deviceData) as JsonRecord };
  }

  /**
   * PUT: creates the device with its keys (device_keys required; one_time_keys and fallback_keys
   * optional, all checked as /keys/upload checks them), then makes it the user's dehydrated device,
   * deleting the one it replaces.
   */
  async put(userId: string, body: JsonRecord): Promise<{ device_id: string }> {
    const deviceId = body.device_id;
    if (deviceId === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'device_id'");
    if (typeof deviceId !== "string" || !isValidDeviceId(deviceId)) throw new MatrixError("M_INVALID_PARAM", "Invalid 'device_id'");
    const data = body.device_data;
    if (data === undefined) throw new MatrixError("M_MISSING_PARAM", "Missing 'device_data'");
    if (!isJsonRecord(data) || typeof data.algorithm !== "string") throw new MatrixError("M_BAD_JSON", "'device_data' must be an object with a string 'algorithm'");
    const dataJson = JSON.stringify(data);
    if (Buffer.byteLength(dataJson) > MAX_DEVICE_DATA_BYTES) throw new MatrixError("M_TOO_LARGE", "'device_data' is too large");
    const name = body.initial_device_display_name;
    if (name !== undefined && name !== null && typeof name !== "string") throw new MatrixError("M_BAD_JSON", "'initial_device_display_name' must be a string");
    if (body.device_keys === undefined || body.device_keys === null) throw new MatrixError("M_MISSING_PARAM", "Device keys must be provided ('device_keys')");

    let current = await this.d.repo.dehydratedDevice(userId);
    // The same ID again: the old device (keys, messages) is replaced by this one.
    if (current?.deviceId === deviceId) {
      await this.d.accounts.deleteDevices(userId, [deviceId]);
      current = undefined;
    }
    const existing = await this.d.accounts.store.findDevice(userId, deviceId);
    // Another device's ID (a session's) must not be taken over.
    if (existing || !(await this.d.transaction((tx) => this.d.accounts.store.insertDevice(tx, userId, deviceId, typeof name === "string" ? name.slice(0, 100) : null, this.now())))) {
      throw new MatrixError("M_INVALID_PARAM", "A device with this ID already exists");
    }
    try {
      const keys: JsonRecord = { device_keys: body.device_keys };
      if (body.one_time_keys !== undefined) keys.one_time_keys = body.one_time_keys;
      if (body.fallback_keys !== undefined) keys.fallback_keys = body.fallback_keys;
      await this.d.keys.upload(userId, deviceId, keys);
    } catch (e) {
      // Bad keys: the device was never usable, remove it again.
      await this.d.accounts.deleteDevices(userId, [deviceId]);
      throw e;
    }
    const previous = await this.d.transaction((tx) => this.d.repo.setDehydratedDevice(tx, userId, deviceId, dataJson, this.now()));
    if (previous !== undefined && previous !== deviceId) await this.d.accounts.deleteDevices(userId, [previous]);
    return { device_id: deviceId };
  }

  /** DELETE: deletes the dehydrated device (and its keys and messages); 404 when there is none. */
  async delete(userId: string): Promise<{ device_id: string }> {
    const dev = await this.d.repo.dehydratedDevice(userId);
    if (!dev) throw notFound("No dehydrated device available");
    await this.d.accounts.deleteDevices(userId, [dev.deviceId]);
    return { device_id: dev.deviceId };
  }

  /**
   * POST /dehydrated_device/{deviceId}/events: the device's to-device messages after `next_batch`
   * (deleting those up to it, which the client has), oldest first. An empty page ends the reading.
   */
  async events(userId: string, deviceId: string, nextBatch: unknown): Promise<{ events: ToDeviceEvent[]; next_batch: string }> {
    if (nextBatch !== undefined && nextBatch !== null && (typeof nextBatch !== "string" || !/^\d{1,15}$/.test(nextBatch))) {
      throw new MatrixError("M_INVALID_PARAM", "Invalid 'next_batch'");
    }
    const dev = await this.d.repo.dehydratedDevice(userId);
    if (!dev) throw notFound("No dehydrated device available");
    if (dev.deviceId !== deviceId) throw new MatrixError("M_FORBIDDEN", "You may only fetch the events of your own dehydrated device");
    const after = typeof nextBatch === "string" ? Number(nextBatch) : 0;
    if (after > 0) await this.d.repo.deleteInboxUpTo(userId, deviceId, after);
    const rows = await this.d.repo.inboxAfter(userId, deviceId, after, DEHYDRATED_EVENTS_PER_PAGE);
    const last = rows.at(-1)?.stream_id ?? after;
    return {
      events: rows.map((r) => ({ sender: r.sender, type: r.type, content: JSON.parse(r.content) as JsonRecord })),
      next_batch: String(last),
    };
  }

  /** Deleted devices (by any path) are no longer the dehydrated device. */
  devicesDeleted(userId: string, deviceIds: readonly string[]): Promise<void> {
    return this.d.repo.forgetDehydratedDevice(userId, deviceIds);
  }
}
