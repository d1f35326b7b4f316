//! SSH public keys: parsing and fingerprints as ssh-keygen prints them, structural checks per
//! key type, clear errors, and the merge of Graph and admin-managed keys.

use super::*;
use std::collections::BTreeMap;

// Real keys from ssh-keygen; fingerprints from `ssh-keygen -lf`.
const ED25519: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICqK6QsY1Y4CHzOI9SpArQUFRKlq4+gAMJ65DMvOHjrO alice@laptop";
const ED25519_FP: &str = "SHA256:XLA5Do/4a5Bbvmd633lsI1afrsIHgZI3TqM7c2+K4Yg";
const ECDSA384: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBCg+ShRiQi91sncKjZO5fwZRw5t0H5Wwo1PyIjX68lVdCTpYcJdut2tAN/pV7I0CaktRimcnohETby/ebrI+cjb43X2N3vfGceK7JPvQiwrnWE7MLSoiC/QWXcB5hlndsw== bob";
const ECDSA384_FP: &str = "SHA256:v1UFX+dKglJFTnRf4mqFfa/nsBW3KsXayzEU7ofn8ao";
const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCfAg/GwGDc0ZRRTmJ2z8jSmZH5pLj0FcT3FOecAfbYTag3+TBbx34LJ/kuZEAL09wsGGkd0GTPEqZhMaeoxvj5TAHsh5dDfA3ORiyQTNyI+Tm91fGM3Aujpb7wr660zmhNUoivTZX1bbaG6NMjz+vdkYBoAZjC5tOtLsepm5KCoQ== carol rsa";
const RSA_FP: &str = "SHA256:MOVHMRMQchoW7PhA3ajskHMGHy/2l9GBYD99O6c1RVk";

fn blob(parts: &[&[u8]]) -> String {
    let mut b = Vec::new();
    for p in parts {
        b.extend_from_slice(&(p.len() as u32).to_be_bytes());
        b.extend_from_slice(p);
    }
    STANDARD.encode(b)
}

#[test]
fn parses_and_fingerprints_like_ssh_keygen() {
    let k = SshPublicKey::parse(ED25519).unwrap();
    assert_eq!(k.algorithm, "ssh-ed25519");
    assert_eq!(k.comment.as_deref(), Some("alice@laptop"));
    assert_eq!(k.fingerprint(), ED25519_FP);
    assert_eq!(k.to_line(), ED25519);
    assert!(k.matches(ED25519_FP));
    assert!(k.matches(ED25519_FP.trim_start_matches("SHA256:")));
    assert!(k.matches(ED25519.trim_end_matches(" alice@laptop")));
    assert!(!k.matches("SHA256:AAAA"));
    for (line, fp, comment) in [(ECDSA384, ECDSA384_FP, "bob"), (RSA, RSA_FP, "carol rsa")] {
        let k = SshPublicKey::parse(line).unwrap();
        assert_eq!(k.fingerprint(), fp);
        assert_eq!(k.comment.as_deref(), Some(comment));
        assert_eq!(k.to_line(), line);
    }
}

#[test]
fn comments_may_hold_spaces_and_are_optional() {
    let body = ED25519.split(' ').nth(1).unwrap();
    let k = SshPublicKey::parse(&format!("ssh-ed25519\t{body}   Alice O'Neil, laptop ")).unwrap();
    assert_eq!(k.comment.as_deref(), Some("Alice O'Neil, laptop"));
    let bare = SshPublicKey::parse(&format!("ssh-ed25519 {body}")).unwrap();
    assert_eq!(bare.comment, None);
    assert!(bare.same_key(&k));
}

#[test]
fn every_supported_type_is_checked_structurally() {
    let point256 = [&[4u8][..], &[7u8; 64][..]].concat();
    let cases = [
        format!(
            "ecdsa-sha2-nistp256 {}",
            blob(&[b"ecdsa-sha2-nistp256", b"nistp256", &point256])
        ),
        format!(
            "ecdsa-sha2-nistp384 {}",
            blob(&[b"ecdsa-sha2-nistp384", b"nistp384", &[4u8; 97]])
        ),
        format!(
            "ecdsa-sha2-nistp521 {}",
            blob(&[b"ecdsa-sha2-nistp521", b"nistp521", &[4u8; 133]])
        ),
        format!(
            "ssh-rsa {}",
            blob(&[b"ssh-rsa", &[1, 0, 1], &[0xc5u8; 257]])
        ),
        format!(
            "sk-ssh-ed25519@openssh.com {}",
            blob(&[b"sk-ssh-ed25519@openssh.com", &[9u8; 32], b"ssh:"])
        ),
        format!(
            "sk-ecdsa-sha2-nistp256@openssh.com {}",
            blob(&[
                b"sk-ecdsa-sha2-nistp256@openssh.com",
                b"nistp256",
                &point256,
                b"ssh:"
            ])
        ),
    ];
    for c in &cases {
        let k = SshPublicKey::parse(c).unwrap_or_else(|e| panic!("{c}: {e}"));
        assert!(k.fingerprint().starts_with("SHA256:"));
        assert_eq!(k.fingerprint().len(), 7 + 43);
    }
}

#[test]
fn bad_keys_get_clear_errors() {
    let body = ED25519.split(' ').nth(1).unwrap();
    assert_eq!(SshPublicKey::parse("  "), Err(SshKeyError::Empty));
    assert!(matches!(
        SshPublicKey::parse(&format!("ssh-dss {body}")),
        Err(SshKeyError::UnknownType(t)) if t == "ssh-dss"
    ));
    assert!(matches!(
        SshPublicKey::parse(&format!("from=\"10.0.0.1\" ssh-ed25519 {body}")),
        Err(SshKeyError::UnknownType(_))
    ));
    assert_eq!(
        SshPublicKey::parse("ssh-ed25519"),
        Err(SshKeyError::MissingBody("ssh-ed25519".into()))
    );
    assert_eq!(
        SshPublicKey::parse("ssh-ed25519 not*base64"),
        Err(SshKeyError::BadBase64("ssh-ed25519".into()))
    );
    let err = SshPublicKey::parse(&format!("ssh-rsa {body}")).unwrap_err();
    assert_eq!(
        err,
        SshKeyError::TypeMismatch {
            outer: "ssh-rsa".into(),
            inner: "ssh-ed25519".into()
        }
    );
    assert!(err.to_string().contains("says it is a \"ssh-ed25519\" key"));
    // Truncated: drop the last bytes of the key.
    let short = blob(&[b"ssh-ed25519", &[1u8; 31]]);
    assert!(matches!(
        SshPublicKey::parse(&format!("ssh-ed25519 {short}")),
        Err(SshKeyError::Malformed { .. })
    ));
    let trailing = blob(&[b"ssh-ed25519", &[1u8; 32], b"x"]);
    assert!(matches!(
        SshPublicKey::parse(&format!("ssh-ed25519 {trailing}")),
        Err(SshKeyError::Malformed { .. })
    ));
    let len_overflow = STANDARD.encode([0xff, 0xff, 0xff, 0xff, b's']);
    assert!(matches!(
        SshPublicKey::parse(&format!("ssh-ed25519 {len_overflow}")),
        Err(SshKeyError::Malformed { .. })
    ));
    assert_eq!(
        SshPublicKey::parse(&format!("{ED25519}\n{ED25519}")),
        Err(SshKeyError::MultiLine)
    );
    let wrong_curve = blob(&[b"ecdsa-sha2-nistp256", b"nistp384", &[4u8; 65]]);
    assert!(SshPublicKey::parse(&format!("ecdsa-sha2-nistp256 {wrong_curve}")).is_err());
}

fn user_with(ext10: Option<&str>, extensions: &[(&str, Value)]) -> User {
    let mut attrs = BTreeMap::new();
    attrs.insert(
        "extensionAttribute10".to_string(),
        ext10.map(str::to_string),
    );
    attrs.insert("extensionAttribute1".to_string(), None);
    User {
        id: "6F2C1B6E-8A3D-4C59-9E07-2B1D3C4E5F60".into(),
        user_principal_name: Some("alice@contoso.com".into()),
        on_premises_extension_attributes: Some(attrs),
        extensions: extensions
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        ..User::default()
    }
}

#[test]
fn graph_lines_from_extension_attributes_and_directory_extensions() {
    let other = format!(
        "ecdsa-sha2-nistp256 {} work",
        blob(&[b"ecdsa-sha2-nistp256", b"nistp256", &[4u8; 65]])
    );
    let u = user_with(
        Some(&format!("{ED25519}\r\n\n# old laptop\n{other}\n")),
        &[
            (
                "extension_0123456789abcdef0123456789abcdef_sshPublicKey",
                Value::String(ED25519.into()),
            ),
            (
                "extension_0123456789abcdef0123456789abcdef_keys",
                serde_json::json!([ED25519, other]),
            ),
            (
                "extension_0123456789abcdef0123456789abcdef_obj",
                serde_json::json!({"ssh": {"keys": ED25519}}),
            ),
        ],
    );
    assert_eq!(
        graph_key_lines(&u, "onPremisesExtensionAttributes.extensionAttribute10"),
        vec![ED25519.to_string(), other.clone()]
    );
    assert_eq!(
        graph_key_lines(&u, "onpremisesextensionattributes.EXTENSIONATTRIBUTE10").len(),
        2
    );
    assert!(graph_key_lines(&u, "onPremisesExtensionAttributes.extensionAttribute1").is_empty());
    assert!(graph_key_lines(&u, "onPremisesExtensionAttributes").is_empty());
    assert_eq!(
        graph_key_lines(
            &u,
            "extension_0123456789abcdef0123456789abcdef_sshPublicKey"
        ),
        vec![ED25519.to_string()]
    );
    assert_eq!(
        graph_key_lines(&u, "extension_0123456789abcdef0123456789abcdef_keys").len(),
        2
    );
    assert_eq!(
        graph_key_lines(
            &u,
            "extension_0123456789abcdef0123456789abcdef_obj.ssh.keys"
        ),
        vec![ED25519.to_string()]
    );
    assert!(graph_key_lines(&u, "extension_missing").is_empty());
}

#[test]
fn served_keys_merge_graph_and_admin_without_duplicates() {
    let body = ED25519.split(' ').nth(1).unwrap();
    let u = user_with(Some(&format!("{ED25519}\nssh-rsa garbage\n")), &[]);
    let attr = Some("onPremisesExtensionAttributes.extensionAttribute10");
    let admin_other = format!(
        "ecdsa-sha2-nistp256 {} admin-added",
        blob(&[b"ecdsa-sha2-nistp256", b"nistp256", &[4u8; 65]])
    );
    let mut admin = AdminKeys::new();
    admin.insert(
        u.id.to_ascii_lowercase(),
        vec![
            format!("ssh-ed25519 {body} same-key-other-comment"),
            admin_other.clone(),
        ],
    );
    let mut attrs = vec![Attr {
        name: "objectClass",
        values: vec!["top".into(), "posixAccount".into()],
    }];
    add_attributes(&mut attrs, &u, attr, &admin);
    assert_eq!(
        attrs[0].values.iter().map(|v| &**v).collect::<Vec<_>>(),
        ["top", "posixAccount", "ldapPublicKey"]
    );
    let ssh = attrs.iter().find(|a| a.name == "sshPublicKey").unwrap();
    assert_eq!(
        ssh.values.iter().map(|v| &**v).collect::<Vec<_>>(),
        [ED25519, admin_other.as_str()]
    );

    // Nobody's keys: nothing added.
    let mut plain = vec![Attr {
        name: "objectClass",
        values: vec!["top".into()],
    }];
    add_attributes(&mut plain, &user_with(None, &[]), attr, &AdminKeys::new());
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0].values.len(), 1);
}
