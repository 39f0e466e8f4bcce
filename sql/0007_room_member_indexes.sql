-- Local members of a room (push rule evaluation on every event, resident checks for federation).
CREATE INDEX local_memberships_room ON local_memberships (room_id, membership);
