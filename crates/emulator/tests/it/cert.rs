//! Certificate credentials on the emulator's token endpoint: a `client_assertion` JWT signed
//! with the private key of a certificate registered on the app (docs/graph-behaviour.md §2).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use model::time::{Clock, SystemClock};
use o365_emulator::{self as emulator, EmulatorOptions, Fixture, FixtureApp, RunningEmulator};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TENANT: &str = "6f1e3a52-8d2b-4c7e-9a10-3b5c2d7e8f90";
const APP: &str = "4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f";
/// A throwaway test certificate and its PKCS#8 key (generated once with openssl for this test).
const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIDJzCCAg+gAwIBAgIUZa2y7iK/Akub/lDwO7BdlEeak98wDQYJKoZIhvcNAQEL
BQAwIjEgMB4GA1UEAwwXbzM2NS1sZGFwIGVtdWxhdG9yIHRlc3QwIBcNMjYxMTIy
MTUxMjEwWhgPMjEyNjEwMjkxNTEyMTBaMCIxIDAeBgNVBAMMF28zNjUtbGRhcCBl
bXVsYXRvciB0ZXN0MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyJWm
KUmElQh02Mb+yv1SyNZU+PB6vKIUict0+zYJ24Jz+kKDuhabGAcH+eo8+dYfq8fn
yp5wp7XL9v8+VHRZMsCoe9PaZOudX8JKf0T9e8lAW84r5M/Er7/FmCeN24nxOyCw
6tecRLRrlZL0j34RD62eAECgE6bhcqzqWYQPXfI2V3eJY0SyxIwBEvNB5bBgTuSM
59NWsoCwhq964hUWorPEcOO932Llc6/tEPqzl5J/A9iMB3XXWCJb7JPaibBrH3Wr
e9m7w8ennGElmIhX1L7tNOoVCDc8RCL2Rh6tG/jmq7vIH2S4wFIfUG3T/JqKsF/v
Sr3Vl32t6kCACTS0iQIDAQABo1MwUTAdBgNVHQ4EFgQUE7D1l/f9KWdIQHxQ3Nrx
UoXKxicwHwYDVR0jBBgwFoAUE7D1l/f9KWdIQHxQ3NrxUoXKxicwDwYDVR0TAQH/
BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEAxe7alHWa4lEyBWkKlbZTW4eYuTwc
hPoxBpqIdDtgcdcRxocXBtDLUgkhnL3+3UZtsC3VXIXH53B9LyUdR7m5vdLEQLMg
mQmea5wRMBay5xgtBSnUk6Iy3Yu3SSpdp1Q7ClNM9dLMavPDB2QaujVx04RYAIUO
Dy23qvnujl3Rx6+wytN++xwNSwMRc3P8pQNcabG+Ojj2oZJFtmWkjFSI79pSXNpY
1/IyiA6tz1BdZ+ScZLQ2bNbNkn4IjsPnq0ECUN/GwkJQnxpRb9CQgc39yHmo2M4/
HG3Nt1REXv5ys4jywVjm9RL3l6P8pmlgx5fmtuEtuo5j17mEgr+ZsAN3EQ==
-----END CERTIFICATE-----";
const KEY_PKCS8_B64: &str = "MIIEuwIBADANBgkqhkiG9w0BAQEFAASCBKUwggShAgEAAoIBAQDIlaYpSYSVCHTYxv7K/VLI1lT48Hq8ohSJy3T7NgnbgnP6QoO6FpsYBwf56jz51h+rx+fKnnCntcv2/z5UdFkywKh709pk651fwkp/RP17yUBbzivkz8Svv8WYJ43bifE7ILDq15xEtGuVkvSPfhEPrZ4AQKATpuFyrOpZhA9d8jZXd4ljRLLEjAES80HlsGBO5Izn01aygLCGr3riFRais8Rw473fYuVzr+0Q+rOXkn8D2IwHdddYIlvsk9qJsGsfdat72bvDx6ecYSWYiFfUvu006hUINzxEIvZGHq0b+Oaru8gfZLjAUh9QbdP8moqwX+9KvdWXfa3qQIAJNLSJAgMBAAECggEACBIEAEztxtnzFZZqwaZlR8uz2duXHJ2AKmEja54WJxz9vJfOLqpigsTO/IOrq2OtnN7rWRAnOTWL0ibH47mrWGrppyh0H4kJU8UrSSlF8k6RG9XU7J0IGAglE5pNJK73+T3h+w5CF9OTMTlF72YORVgMxOF/b1BQvtPtOT0ifyWW1r8fnT7JcT+g/RZd9UfxdNbtsXKkcNq4Hoa3P75HQ0+c+XWSEZ+7tYRpSDf/dvTTleKTYx5bToZ1mbccwcwYOEvSkt7a6e6PjlN0PQ5VSsYCd4mhdnqlGODgAtAXLAqXn4dEoH2QQVb7Qov11s78UpnZ2sM8TZ7/he+pV82gGQKBgQD7Ra5wnmFNwuHMSYwUP8hOsFJ5f3sxeZm/bDzhV041oPB3Yk1W8powZjv+flilXSlJv06zJopHaiw0EkDe6qiGueKYjDOKg9cU+GN6cHlx5HpUT/zpvrafKQrIRIeGdgXhvIg6n7NYJr9DWT+jeqkflPWxXr8u6KPdOibD789adQKBgQDMW9E/059iOE0gR9K+z1LGm+2Xruz9QWXWAjVT72+2DcPbFkTlP1vbhdxBGX2prwgeLEzA6WyEHNgxQNOTgU30UDYgaZBecqdOaowamB77D4Q/CVMDLgyGC603upxQbleA7x1m6hCL5L5w9Ss1Ax3ztw9CorwHBcdGHrZXCTOnRQKBgQC1v9VJiIYBZTFGPvyfuPL+V/OQBnHpe3eGSphOtoPPrrXA5M3kUl7NG2XR0znzgstWmJYoZ3wl49pNX9akZz+3E8WfaenuCycL+A6chbaSdx001xatTFF0Fo/CBC+zRrNCcMho/xMOdBhscqXhbdvfCDQfM9U97PB6GJHpsBBf8QJ/Cyz6RINONBDgJuPGoqiz3iio1aK7Ux5Ac3OrduuhMFOQYmrVWbQdUeQAJ489UApCZ2QEzof1Z0QsjoT9DRQFL1cznpInUwLyI1ewUcP/7brrgIcCAyqBhNMepe2Ontdp8aMh+H7UaNIZmBPQSRXijXF1ZC+CGOA4BZ2oWxoluQKBgHHCYX6n7oHGIuEGnmPINeDxxjOrhdaLpS5SwyBUOVABy6P19eM5j6c7ZOL4UQ5SeQPFw+ssEDtBJzpZ1zI2oZxIdaM/ICPhbdv3GLZY3cBWUjIvOVQVxUyFxtmiUtDD+GbWs/nBQvgpedtfHe2al3snvApFYnC7Z4IAWp4BXAKH";

fn cert_der() -> Vec<u8> {
    let b64: String = CERT_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    STANDARD.decode(b64).expect("certificate base64")
}

fn assertion(aud: &str, iss: &str, exp_offset: i64, tamper: bool, thumb: Option<String>) -> String {
    let x5t = thumb.unwrap_or_else(|| URL_SAFE_NO_PAD.encode(Sha256::digest(cert_der())));
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t#S256": x5t});
    // The emulator checks nbf and exp against the wall clock.
    let now = SystemClock.now_unix();
    let claims = json!({"aud": aud, "iss": iss, "sub": iss, "jti": "a-unique-id",
                        "nbf": now - 60, "exp": now + exp_offset});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = RsaKeyPair::from_pkcs8(&STANDARD.decode(KEY_PKCS8_B64).expect("key base64"))
        .expect("test key");
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    if tamper && let Some(b) = sig.first_mut() {
        *b ^= 1;
    }
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

async fn boot() -> RunningEmulator {
    let mut fx = Fixture::sample().unwrap();
    fx.apps.push(FixtureApp {
        client_id: APP.into(),
        permissions: vec!["User.Read.All".into()],
        certificates: vec![CERT_PEM.into()],
        ..FixtureApp::default()
    });
    emulator::start(
        fx,
        EmulatorOptions::default(),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("emulator starts")
}

async fn request(emu: &RunningEmulator, jwt: &str) -> (u16, Value) {
    let scope = format!("{}/.default", emu.base_url());
    let resp = reqwest::Client::new()
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("scope", scope.as_str()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", jwt),
        ])
        .send()
        .await
        .expect("token endpoint answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

#[tokio::test]
async fn signed_assertions_get_tokens_and_bad_ones_do_not() {
    let emu = boot().await;
    let aud = format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url());
    let (status, body) = request(&emu, &assertion(&aud, APP, 600, false, None)).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("token");
    let users = reqwest::Client::new()
        .get(format!("{}/v1.0/users", emu.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("users");
    assert_eq!(users.status().as_u16(), 200);

    let code = |b: &Value| b["error_codes"][0].as_u64().unwrap_or(0);
    let (status, body) = request(&emu, &assertion(&aud, APP, 600, true, None)).await;
    assert_eq!((status, code(&body)), (401, 700027), "bad signature");
    let (_, body) = request(
        &emu,
        &assertion(&aud, APP, 600, false, Some("bm90LXRoaXMtY2VydA".into())),
    )
    .await;
    assert_eq!(code(&body), 700027, "unknown certificate");
    let (_, body) = request(
        &emu,
        &assertion(
            "https://login.microsoftonline.com/x/oauth2/v2.0/token",
            APP,
            600,
            false,
            None,
        ),
    )
    .await;
    assert_eq!(code(&body), 700027, "wrong audience");
    let (_, body) = request(
        &emu,
        &assertion(
            &aud,
            "0c1e2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
            600,
            false,
            None,
        ),
    )
    .await;
    assert_eq!(code(&body), 700027, "issuer is another app");
    let (_, body) = request(&emu, &assertion(&aud, APP, -3600, false, None)).await;
    assert_eq!(code(&body), 700024, "expired");
}
