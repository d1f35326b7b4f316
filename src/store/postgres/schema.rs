//! Versioned schema migrations, applied at start. Each has a number and the SQL that takes the
//! schema from the one before to it; `o365_ldap_migrations` records what was applied. Replicas
//! starting together take a transaction-scoped advisory lock first, so each migration runs once.
//! A database migrated further than this build knows is refused: an older replica must not
//! write rows a newer one reads differently.

/// (version, description, SQL). Append only; never edit one that has shipped.
const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "versioned rows, tenants, store id",
    r#"
CREATE TABLE o365_ldap_store (
    key text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO o365_ldap_store (key, value) VALUES ('store_id', gen_random_uuid()::text);

CREATE TABLE o365_ldap_tenants (
    tenant text PRIMARY KEY,
    version bigint NOT NULL DEFAULT 0,
    state_version bigint NOT NULL DEFAULT 0,
    tombstones_below bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE o365_ldap_rows (
    tenant text NOT NULL,
    kind text NOT NULL,
    key text NOT NULL,
    value bytea,
    version bigint NOT NULL,
    PRIMARY KEY (tenant, kind, key)
);
CREATE INDEX o365_ldap_rows_by_version ON o365_ldap_rows (tenant, version);

-- For people reading the database: numbers and names as columns.
CREATE VIEW o365_ldap_uid_numbers AS
    SELECT tenant, key AS object_id, convert_from(value, 'UTF8')::bigint AS uid_number
    FROM o365_ldap_rows WHERE kind = 'uid' AND value IS NOT NULL;
CREATE VIEW o365_ldap_gid_numbers AS
    SELECT tenant, key AS object_id, convert_from(value, 'UTF8')::bigint AS gid_number
    FROM o365_ldap_rows WHERE kind = 'gid' AND value IS NOT NULL;
CREATE VIEW o365_ldap_names AS
    SELECT tenant, key AS name, convert_from(value, 'UTF8') AS object_id
    FROM o365_ldap_rows WHERE kind = 'name' AND value IS NOT NULL;
"#,
)];

/// The newest schema version this build knows.
pub(super) fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

pub(super) enum MigrateError {
    Db(tokio_postgres::Error),
    Newer { found: i32, known: i32 },
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(e: tokio_postgres::Error) -> Self {
        MigrateError::Db(e)
    }
}

/// Bring the schema up to date and return the store's id.
pub(super) async fn migrate(c: &mut tokio_postgres::Client) -> Result<String, MigrateError> {
    let tx = c.transaction().await?;
    // One replica migrates at a time; the others wait here and then find nothing to do.
    tx.execute("SELECT pg_advisory_xact_lock(7236548015213400001)", &[])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS o365_ldap_migrations (
            version integer PRIMARY KEY,
            description text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await?;
    let found: i32 = tx
        .query_one(
            "SELECT COALESCE(max(version), 0) FROM o365_ldap_migrations",
            &[],
        )
        .await?
        .get(0);
    if found > latest() {
        return Err(MigrateError::Newer {
            found,
            known: latest(),
        });
    }
    for (version, description, sql) in MIGRATIONS.iter().filter(|m| m.0 > found) {
        tracing::info!(
            version,
            description,
            "applying a PostgreSQL schema migration"
        );
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO o365_ldap_migrations (version, description) VALUES ($1, $2)",
            &[version, description],
        )
        .await?;
    }
    let id: String = tx
        .query_one(
            "SELECT value FROM o365_ldap_store WHERE key = 'store_id'",
            &[],
        )
        .await?
        .get(0);
    tx.commit().await?;
    Ok(id)
}
