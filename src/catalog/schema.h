// The catalog's schema as a list of numbered migrations.
#pragma once

#include "catalog/db.h"

namespace vsl::catalog {

// The schema version this build writes.
int LatestSchemaVersion();

// Applies every migration newer than the database's schema_version, each in
// its own transaction. Safe when several processes start at once: a migration
// that another process applied first is skipped. FailedPrecondition when the
// database is newer than this build.
Status Migrate(Database& db);
// Migrate, stopping after migration `version`: for tests of upgrades from an
// older catalog.
Status MigrateTo(Database& db, int version);

// The version recorded in the database (0 for an empty one).
Result<int> SchemaVersion(Database& db);

}  // namespace vsl::catalog
