//! `hashicorp/go-cty-funcs/crypto` and `uuid`: bcrypt, md5, sha1, sha256, sha512,
//! rsadecrypt, uuidv4, uuidv5.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::Md5;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use super::Args;
use crate::job::hcl::value::Value;

fn hex_of<D: Digest>(s: &str) -> Value {
    Value::String(hex::encode(D::digest(s.as_bytes())))
}

pub(super) fn call(name: &str, a: Args<'_>) -> Result<Value, String> {
    match name {
        "md5" | "sha1" | "sha256" | "sha512" => {
            a.count(1, 1)?;
            let s = a.string(0, "str")?;
            Ok(match name {
                "md5" => hex_of::<Md5>(&s),
                "sha1" => hex_of::<Sha1>(&s),
                "sha256" => hex_of::<Sha256>(&s),
                _ => hex_of::<Sha512>(&s),
            })
        }
        "bcrypt" => {
            if a.v.len() > 2 {
                return Err("bcrypt() takes no more than two arguments".into());
            }
            a.count(1, 2)?;
            let s = a.string(0, "str")?;
            let cost = if a.v.len() == 2 {
                a.int(1, "cost")?
            } else {
                10
            };
            // Go's x/crypto/bcrypt writes the `$2a$` prefix.
            bcrypt::hash_with_result(s.as_bytes(), cost.clamp(0, 63) as u32)
                .map(|h| Value::String(h.format_for_version(bcrypt::Version::TwoA)))
                .map_err(|e| format!("error occured generating password {e}"))
        }
        "rsadecrypt" => {
            a.count(2, 2)?;
            let (cipher, key) = (a.string(0, "ciphertext")?, a.string(1, "privatekey")?);
            let bytes = STANDARD.decode(&cipher).map_err(|_| {
                format!("failed to decode input {cipher:?}: cipher text must be base64-encoded")
            })?;
            let key = rsa::RsaPrivateKey::from_pkcs1_pem(&key)
                .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(&key))
                .map_err(|e| format!("failed to parse key: {e}"))?;
            let plain = key
                .decrypt(rsa::Pkcs1v15Encrypt, &bytes)
                .map_err(|e| format!("failed to decrypt: {e}"))?;
            String::from_utf8(plain)
                .map(Value::String)
                .map_err(|_| "the decrypted text is not valid UTF-8".into())
        }
        "uuidv4" => {
            a.count(0, 0)?;
            Ok(Value::String(uuid::Uuid::new_v4().to_string()))
        }
        "uuidv5" => {
            a.count(2, 2)?;
            let (ns, name) = (a.string(0, "namespace")?, a.string(1, "name")?);
            let namespace = match ns.as_str() {
                "dns" => uuid::Uuid::NAMESPACE_DNS,
                "url" => uuid::Uuid::NAMESPACE_URL,
                "oid" => uuid::Uuid::NAMESPACE_OID,
                "x500" => uuid::Uuid::NAMESPACE_X500,
                other => uuid::Uuid::parse_str(other)
                    .map_err(|e| format!("uuidv5() doesn't support namespace {other} ({e})"))?,
            };
            Ok(Value::String(
                uuid::Uuid::new_v5(&namespace, name.as_bytes()).to_string(),
            ))
        }
        _ => unreachable!("dispatched by name"),
    }
}

#[cfg(test)]
mod tests {
    use crate::job::funcs::testutil::{check, eval, fails};

    /// `hashicorp/go-cty-funcs:crypto/*_test.go`, `uuid/*_test.go`.
    #[test]
    fn hashes() {
        check("md5(\"tada\")", "\"ce47d07243bb6eaf5e1322c81baf9bbf\"");
        check("md5(\" tada \")", "\"aadf191a583e53062de2d02c008141c4\"");
        check(
            "sha1(\"test\")",
            "\"a94a8fe5ccb19ba61c4c0873d391e987982fbbd3\"",
        );
        check(
            "sha256(\"test\")",
            "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"",
        );
        check(
            "sha512(\"test\")",
            "\"ee26b0dd4af7e749aa1a8ee3c10ae9923f618980772e473f8819a5d4940e0db27ac185f8a0e1d5f84f88bc887fd67b143732c304cc5fa9ad8e6f57f50028a8ff\"",
        );
    }

    #[test]
    fn bcrypt_hashes_verify() {
        let h = eval("bcrypt(\"test\")").unwrap();
        let h = h.as_str().unwrap();
        assert!(h.starts_with("$2a$10$"), "{h}");
        assert!(bcrypt::verify("test", h).unwrap());
        let h = eval("bcrypt(\"test\", 5)").unwrap();
        assert!(h.as_str().unwrap().starts_with("$2a$05$"));
        fails("bcrypt(\"a\", 5, 6)", "no more than two arguments");
    }

    #[test]
    fn uuids() {
        check(
            "uuidv5(\"dns\", \"tada\")",
            "\"faa898db-9b9d-5b75-86a9-149e7bb8e3b8\"",
        );
        check(
            "uuidv5(\"url\", \"tada\")",
            "\"2c1ff6b4-211f-577e-94de-d978b0caa16e\"",
        );
        check(
            "uuidv5(\"oid\", \"tada\")",
            "\"61eeea26-5176-5288-87fc-232d6ed30d2f\"",
        );
        check(
            "uuidv5(\"x500\", \"tada\")",
            "\"7e12415e-f7c9-57c3-9e43-52dc9950d264\"",
        );
        check(
            "uuidv5(\"6ba7b810-9dad-11d1-80b4-00c04fd430c8\", \"tada\")",
            "\"faa898db-9b9d-5b75-86a9-149e7bb8e3b8\"",
        );
        fails("uuidv5(\"tada\", \"tada\")", "doesn't support namespace");
        let a = eval("uuidv4()").unwrap();
        let b = eval("uuidv4()").unwrap();
        assert_ne!(a, b);
        let u = uuid::Uuid::parse_str(a.as_str().unwrap()).unwrap();
        assert_eq!(u.get_version_num(), 4);
    }

    /// A key and ciphertext made for this test with `openssl genrsa` and `openssl
    /// pkeyutl -encrypt` (PKCS #1 v1.5), as go-cty-funcs' own test does with its own.
    #[test]
    fn rsadecrypt() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/job/funcs/testdata");
        let key = std::fs::read_to_string(dir.join("rsa-1024.pem")).unwrap();
        let other = std::fs::read_to_string(dir.join("rsa-1024-other.pem")).unwrap();
        let cipher = std::fs::read_to_string(dir.join("rsa-1024-message.b64")).unwrap();
        let call = |c: &str, k: &str| {
            crate::job::funcs::Funcs {
                base_dir: dir.clone(),
                allow_fs: false,
            }
            .call(
                "rsadecrypt",
                vec![
                    crate::job::hcl::value::Value::str(c),
                    crate::job::hcl::value::Value::str(k),
                ],
            )
        };
        assert_eq!(call(cipher.trim(), &key).unwrap().as_str(), Some("message"));
        assert!(call(cipher.trim(), &other).is_err());
        assert!(call(cipher.trim(), "bad key").is_err());
        assert!(call(cipher.trim(), "").is_err());
        assert!(call("bad cipher", &key).unwrap_err().contains("base64"));
        assert!(call("", &key).is_err());
    }
}
