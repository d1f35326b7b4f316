//! Backup credentials: with the primary credential's secret revoked in Entra, the next one in
//! `[[tenant.credential]]` order syncs, and the history records which one worked.

use crate::common::harness::{CONTOSO_CLIENT_ID, CONTOSO_SECRET, Env};
use emulator::Mutation;
use o365_ldap::store::Store;
use o365_ldap::sync::SyncEngine;
use std::sync::Arc;

/// `tests/fixtures/contoso.json`'s second full-permission app (Directory.Read.All).
const BACKUP_CLIENT_ID: &str = "3b5d7f91-2a4c-4e6f-8b1d-5c7e9f1a3b5d";
const BACKUP_SECRET: &str = "emulator-secret-3";

#[tokio::test]
async fn a_revoked_primary_secret_falls_back_to_the_backup_credential() {
    let env = Env::contoso().await;
    let backup_file = env.dir.path().join("backup.secret");
    std::fs::write(&backup_file, BACKUP_SECRET).unwrap();
    let extra = format!(
        "\n  [[tenant.credential]]\n  client_id = \"{BACKUP_CLIENT_ID}\"\n  client_secret_file = {:?}\n",
        backup_file.display().to_string()
    );
    let cfg = Arc::new(env.config_with("", &extra));
    assert_eq!(cfg.tenant[0].credential.len(), 2);
    let store = Arc::new(Store::open(&cfg.server.data_dir).unwrap());
    let engine = SyncEngine::load(cfg, store).unwrap();

    let first = engine.sync_tenant("contoso").await.expect("primary works");
    assert_eq!(first.credential_used, Some(0));

    env.emu
        .as_ref()
        .expect("emulator running")
        .mutate(Mutation::RevokeSecret {
            client_id: CONTOSO_CLIENT_ID.into(),
            secret: CONTOSO_SECRET.into(),
        })
        .await
        .expect("secret revoked");
    let second = engine
        .run_round(
            "contoso",
            o365_ldap::sync::RoundOptions {
                full: true,
                ..Default::default()
            },
            None,
        )
        .await
        .expect("the backup credential syncs");
    assert_eq!(second.credential_used, Some(1));
    assert!(second.build.users_active > 0);
    let hist = engine.history(Some("contoso"), 10).unwrap();
    assert_eq!(
        hist[0].credential,
        Some(1),
        "history records the credential that worked"
    );
}
