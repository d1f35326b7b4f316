//! `o365-ldap store import --from <data_dir>`: copy a single server's redb store into the
//! configured PostgreSQL database, row for row (`store::rows`), so a deployment grows into
//! replicas without one uidNumber, name, password, key or history record changing.

use crate::store::rows::Kind;
use crate::store::{Remote, Store};
use anyhow::Context;
use std::path::Path;

pub async fn run(config: &Path, from: &Path) -> anyhow::Result<()> {
    let cfg = crate::settings::load(config)?;
    if cfg.store.backend != config::StoreBackend::Postgres {
        anyhow::bail!(
            "{} has no [store] backend = \"postgres\"; set it (with url_file or url_env) to say \
             which database to import into",
            config.display()
        );
    }
    let url = cfg
        .store
        .resolved_url
        .clone()
        .context("[store] backend = \"postgres\" but no URL was read")?;
    let from = from.to_path_buf();
    // redb and the client wait on blocking calls: off the async threads.
    tokio::task::spawn_blocking(move || import(&from, &url)).await?
}

fn import(from: &Path, url: &model::Secret) -> anyhow::Result<()> {
    if !from.join(crate::store::FILE_NAME).exists() {
        anyhow::bail!(
            "{} holds no {}: give the server.data_dir of the single server",
            from.display(),
            crate::store::FILE_NAME
        );
    }
    let source = Store::open(from).with_context(|| {
        format!(
            "opening {} (stop the server that uses it first)",
            from.display()
        )
    })?;
    let remote = Remote::new(url)?;
    remote.store_id()?;
    let tenants = source.tenants()?;
    if tenants.is_empty() {
        println!("{} holds no tenant; nothing to import", from.display());
        return Ok(());
    }
    for tenant in tenants {
        let rows = source.tenant_rows(&tenant)?;
        let count = |k: Kind| rows.iter().filter(|r| r.kind == k).count();
        let (uids, gids, used, entries, pw, keys, history) = (
            count(Kind::Uid),
            count(Kind::Gid),
            count(Kind::UidUsed) + count(Kind::GidUsed),
            count(Kind::Entry),
            count(Kind::Password),
            count(Kind::SshKeys),
            count(Kind::History),
        );
        let floor = rows
            .iter()
            .filter(|r| r.kind == Kind::History)
            .filter_map(|r| r.key.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        let total = rows.len();
        let done = remote.import(&tenant, rows, floor)?;
        println!(
            "{tenant}: {total} rows imported (version {}): {uids} uidNumbers, {gids} gidNumbers, \
             {used} numbers ever handed out, {entries} directory entries, {pw} directory \
             passwords, {keys} users with SSH keys, {history} history records",
            done.version
        );
    }
    println!(
        "done. Start the replicas with this configuration; each fills its own cache in \
         server.data_dir from the database (use an empty data_dir, not {})",
        from.display()
    );
    Ok(())
}
