-- Simplified sliding sync (MSC4186, issue 13): each room's recency, kept up to date as timeline
-- events are persisted, so a user's room list can be sorted without reading the rooms' events.

CREATE TABLE room_recency (
  room_id TEXT PRIMARY KEY,
  -- Stream position of the latest accepted timeline event of a "bump" type (Synapse's
  -- SLIDING_SYNC_DEFAULT_BUMP_EVENT_TYPES); NULL when there is none.
  bump_stamp BIGINT,
  -- Stream position of the latest accepted timeline event of any type.
  last_stream BIGINT NOT NULL
);

INSERT INTO room_recency (room_id, bump_stamp, last_stream)
SELECT room_id,
       MAX(CASE WHEN type IN ('m.room.create', 'm.room.message', 'm.room.encrypted', 'm.sticker', 'm.call.invite', 'm.poll.start', 'm.beacon_info')
                THEN stream_ordering END),
       MAX(stream_ordering)
FROM events
WHERE outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0 AND stream_ordering > 0
GROUP BY room_id;
