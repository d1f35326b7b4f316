//! A DN string → the RFC 4514 parser and the normaliser. Normalising is idempotent, and a
//! parsed DN prints as something that parses to the same DN.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(dn) = model::dn::parse(text) {
        let printed = dn.to_string();
        let again = model::dn::parse(&printed).expect("a printed DN parses");
        assert_eq!(again.to_string(), printed);
    }
    if let Ok(n) = directory::dn::normalize(text) {
        assert_eq!(directory::dn::normalize(&n).as_deref(), Ok(n.as_str()));
    }
});
