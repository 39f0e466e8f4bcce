// The EDUs (ephemeral data units) this server takes from other servers, in one table: the type
// and the service that handles it. PUT /send/{txnId} (federation/serve.ts) routes each EDU of a
// transaction through this table; an EDU of another type is ignored (server-server-api "EDUs").
// Each owner sets its handler by type; createServices checks at start-up that every declared type
// has one (null: not taken in this configuration, e.g. presence with federation off).

export const EDU_TYPES = [
  /** federation/room-federation.ts → typing.ts applyRemote. */
  "m.typing",
  /** presence.ts receiveEdu. */
  "m.presence",
  /** receipts.ts receiveEdu. */
  "m.receipt",
  /** e2ee → device-lists.ts receiveDeviceListUpdate. */
  "m.device_list_update",
  /** e2ee → device-lists.ts receiveSigningKeyUpdate. */
  "m.signing_key_update",
  /** e2ee → to-device.ts receive. */
  "m.direct_to_device",
] as const;

export type EduType = (typeof EDU_TYPES)[number];
export type EduHandler = (origin: string, content: Record<string, unknown>) => Promise<void> | void;

export class EduTable {
  private readonly handlers = new Map<string, EduHandler | null | undefined>(EDU_TYPES.map((t) => [t, undefined]));

  /** Sets the handler of a declared EDU type (null: not taken in this configuration). Each is set once. */
  set(type: EduType, handler: EduHandler | null): void {
    if (!this.handlers.has(type)) throw new Error(`EDU type ${type} is not declared in services/edus.ts`);
    if (this.handlers.get(type) !== undefined) throw new Error(`EDU type ${type} has two handlers`);
    this.handlers.set(type, handler);
  }

  /** The handler for an EDU type from the wire (undefined: ignored). */
  handler(type: string): EduHandler | undefined {
    return this.handlers.get(type) ?? undefined;
  }

  /** The start-up check: throws when a declared EDU type has no handler. */
  assertComplete(): void {
    const missing = [...this.handlers].filter(([, h]) => h === undefined).map(([t]) => t);
    if (missing.length) throw new Error(`EDU types declared but never handled: ${missing.join(", ")}`);
  }
}
