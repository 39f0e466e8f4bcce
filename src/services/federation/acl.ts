// Server ACL checks for rooms (m.room.server_acl in the current state), for the federation endpoints
// that must be protected (server-server-api.md "Server Access Control Lists (ACLs)"). The matching
// itself is the pure core/server-acl.ts.
import { serverAclAllows } from "../../core/server-acl.ts";
import { MatrixError } from "../../protocol/errors.ts";

/** The content of a room's current m.room.server_acl event, or undefined when it has none. */
export type AclContentLookup = (roomId: string) => Promise<unknown>;

export class ServerAcls {
  constructor(private readonly aclContent: AclContentLookup) {}

  /** Whether `serverName` may take part in `roomId` (true when the room has no ACL). */
  async isAllowed(roomId: string, serverName: string): Promise<boolean> {
    return serverAclAllows(await this.aclContent(roomId), serverName);
  }

  /** Throws 403 M_FORBIDDEN when the room's ACL denies `serverName`. */
  async assertAllowed(roomId: string, serverName: string): Promise<void> {
    if (!(await this.isAllowed(roomId, serverName))) {
      throw new MatrixError("M_FORBIDDEN", `Server ${serverName} is denied by the room's server ACL`);
    }
  }
}
