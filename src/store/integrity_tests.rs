//! A damaged, emptied or vanished store file is refused with a message that says what to do;
//! nothing panics, and `serve --force` moves it aside.

use super::*;

/// A store with some rows in it, closed.
fn populated(dir: &Path) -> PathBuf {
    let store = Store::open(dir).unwrap();
    for n in 0..200 {
        store
            .set_local_password("contoso", &format!("user-{n}"), &"$argon2id$x".repeat(20))
            .unwrap();
    }
    drop(store);
    dir.join(FILE_NAME)
}

fn damage(path: &Path, at: u64, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn damaged_pages_are_refused_never_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = populated(dir.path());
    let len = std::fs::metadata(&path).unwrap().len();
    let pristine = std::fs::read(&path).unwrap();
    let mut refused = 0;
    let mut offsets: Vec<u64> = (0..len).step_by(4096).collect();
    offsets.extend([17, 100, 600, len / 2 + 33]);
    for at in offsets {
        for fill in [&[0u8; 64][..], &[0xa5u8; 64][..]] {
            std::fs::write(&path, &pristine).unwrap();
            damage(&path, at, fill);
            match Store::open(dir.path()) {
                Ok(s) => {
                    // Untouched or unused bytes: the store must still read.
                    let _ = s.local_password("contoso", "user-1");
                }
                Err(StoreError::Damaged { detail, .. }) => {
                    assert!(!detail.is_empty());
                    refused += 1;
                }
                Err(e) => panic!("offset {at}: unexpected {e}"),
            }
        }
    }
    assert!(refused > 0, "no damage was noticed");
    let msg = {
        std::fs::write(&path, &pristine).unwrap();
        damage(&path, 4096, &[0xa5; 4096]);
        Store::open(dir.path()).err().map(|e| e.to_string())
    };
    if let Some(msg) = msg {
        assert!(
            msg.contains("backup") && msg.contains("serve --force"),
            "{msg}"
        );
    }
}

#[test]
fn an_emptied_or_vanished_file_is_not_a_fresh_install() {
    let dir = tempfile::tempdir().unwrap();
    let path = populated(dir.path());
    std::fs::write(&path, b"").unwrap();
    let e = Store::open(dir.path()).err().expect("refused");
    assert!(
        matches!(
            e,
            StoreError::Missing {
                what: "empty (zero bytes)",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("serve --force"), "{e}");
    std::fs::remove_file(&path).unwrap();
    let e = Store::open(dir.path()).err().expect("refused");
    assert!(
        matches!(
            e,
            StoreError::Missing {
                what: "missing",
                ..
            }
        ),
        "{e}"
    );
    // --force: moved aside (nothing to move here), then a fresh store opens.
    assert_eq!(Store::set_aside_if_unusable(dir.path()).unwrap(), None);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.local_password("contoso", "user-1").unwrap(), None);
}

#[test]
fn force_moves_a_damaged_file_aside_and_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = populated(dir.path());
    damage(&path, 0, &[0xa5; 8192]);
    assert!(Store::open(dir.path()).is_err());
    let aside = Store::set_aside_if_unusable(dir.path())
        .unwrap()
        .expect("moved aside");
    assert!(aside.exists() && !path.exists());
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.local_password("contoso", "user-1").unwrap(), None);
    // A healthy store is left alone.
    drop(store);
    assert_eq!(Store::set_aside_if_unusable(dir.path()).unwrap(), None);
}

#[test]
fn the_data_directory_and_file_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a/b/data");
    // SAFETY: umask only affects this process's file creation; tests creating files at the
    // same moment get at most more permissive modes, which no other test checks.
    let old = unsafe { libc_umask(0o002) };
    let store = Store::open(&data);
    unsafe { libc_umask(old) };
    drop(store.unwrap());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join(FILE_NAME)), 0o600);
    assert_eq!(mode(&data.join(MARKER_NAME)), 0o600);
}

unsafe extern "C" {
    #[link_name = "umask"]
    fn libc_umask(mask: u32) -> u32;
}
