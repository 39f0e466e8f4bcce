// The list of migrations compiled into hs. Add each new file under sql/ here, in order;
// a test checks this list matches the folder. A migration is one `NNNN_name.sql` shared by both
// engines, or a pair `NNNN_name.sqlite.sql` + `NNNN_name.postgres.sql` where dialects differ.
import m0001 from "../../../sql/0001_init.sql" with { type: "text" };
import m0002 from "../../../sql/0002_accounts.sql" with { type: "text" };
import m0003 from "../../../sql/0003_rooms.sql" with { type: "text" };
import m0004 from "../../../sql/0004_sync.sql" with { type: "text" };
import m0005 from "../../../sql/0005_federation_keys.sql" with { type: "text" };
import m0006 from "../../../sql/0006_federation_events.sql" with { type: "text" };
import m0007 from "../../../sql/0007_room_member_indexes.sql" with { type: "text" };
import m0008 from "../../../sql/0008_e2ee.sql" with { type: "text" };
import m0009 from "../../../sql/0009_media.sql" with { type: "text" };
import m0010sqlite from "../../../sql/0010_directory_search.sqlite.sql" with { type: "text" };
import m0010postgres from "../../../sql/0010_directory_search.postgres.sql" with { type: "text" };
import m0011 from "../../../sql/0011_relations_reports.sql" with { type: "text" };
import m0012 from "../../../sql/0012_admin.sql" with { type: "text" };
import m0013 from "../../../sql/0013_appservices_push.sql" with { type: "text" };
import m0014 from "../../../sql/0014_sliding_sync.sql" with { type: "text" };
import m0015 from "../../../sql/0015_account_moderation.sql" with { type: "text" };
import m0016 from "../../../sql/0016_dehydrated_devices.sql" with { type: "text" };
import m0017 from "../../../sql/0017_state_resolution_deltas.sql" with { type: "text" };
import m0018 from "../../../sql/0018_federation_destination_status.sql" with { type: "text" };
import m0019 from "../../../sql/0019_shadow_ban.sql" with { type: "text" };
import m0020 from "../../../sql/0020_server_key_json.sql" with { type: "text" };
import m0021sqlite from "../../../sql/0021_cluster.sqlite.sql" with { type: "text" };
import m0021postgres from "../../../sql/0021_cluster.postgres.sql" with { type: "text" };
import m0022 from "../../../sql/0022_process_leases.sql" with { type: "text" };
import m0023 from "../../../sql/0023_server_stats.sql" with { type: "text" };

export interface Migration {
  version: number;
  name: string;
  /** The script for each engine (identical when one shared file). */
  sqlite: string;
  postgres: string;
}

function shared(version: number, name: string, text: string): Migration {
  return { version, name, sqlite: text, postgres: text };
}

/** A migration written twice: `NNNN_name.sqlite.sql` and `NNNN_name.postgres.sql` (named `NNNN_name`). */
function pair(version: number, name: string, sqlite: string, postgres: string): Migration {
  return { version, name, sqlite, postgres };
}

export const MIGRATIONS: readonly Migration[] = [
  shared(1, "0001_init.sql", m0001),
  shared(2, "0002_accounts.sql", m0002),
  shared(3, "0003_rooms.sql", m0003),
  shared(4, "0004_sync.sql", m0004),
  shared(5, "0005_federation_keys.sql", m0005),
  shared(6, "0006_federation_events.sql", m0006),
  shared(7, "0007_room_member_indexes.sql", m0007),
  shared(8, "0008_e2ee.sql", m0008),
  shared(9, "0009_media.sql", m0009),
  pair(10, "0010_directory_search", m0010sqlite, m0010postgres),
  shared(11, "0011_relations_reports.sql", m0011),
  shared(12, "0012_admin.sql", m0012),
  shared(13, "0013_appservices_push.sql", m0013),
  shared(14, "0014_sliding_sync.sql", m0014),
  shared(15, "0015_account_moderation.sql", m0015),
  shared(16, "0016_dehydrated_devices.sql", m0016),
  shared(17, "0017_state_resolution_deltas.sql", m0017),
  shared(18, "0018_federation_destination_status.sql", m0018),
  shared(19, "0019_shadow_ban.sql", m0019),
  shared(20, "0020_server_key_json.sql", m0020),
  pair(21, "0021_cluster", m0021sqlite, m0021postgres),
  shared(22, "0022_process_leases.sql", m0022),
  shared(23, "0023_server_stats.sql", m0023),
];

/** The file names this list was built from (for the folder-consistency test). */
export const MIGRATION_FILES: readonly string[] = ["0001_init.sql", "0002_accounts.sql", "0003_rooms.sql", "0004_sync.sql", "0005_federation_keys.sql", "0006_federation_events.sql", "0007_room_member_indexes.sql", "0008_e2ee.sql", "0009_media.sql", "0010_directory_search.sqlite.sql", "0010_directory_search.postgres.sql", "0011_relations_reports.sql", "0012_admin.sql", "0013_appservices_push.sql", "0014_sliding_sync.sql", "0015_account_moderation.sql", "0016_dehydrated_devices.sql", "0017_state_resolution_deltas.sql", "0018_federation_destination_status.sql", "0019_shadow_ban.sql", "0020_server_key_json.sql", "0021_cluster.sqlite.sql", "0021_cluster.postgres.sql", "0022_process_leases.sql", "0023_server_stats.sql"];
