//! Encryption at rest: the master key, where it comes from, and the AEAD [`Cipher`] that seals
//! every secret the store keeps (PATs, access and refresh tokens, PKCE verifiers).
//!
//! Start at [`MasterKey::load`]: the key comes from `BRICKWIRE_MASTER_KEY` (base64 of 32 bytes)
//! or from `<data-dir>/master.key`, which is created with mode 0600 on first start.
//!
//! Each value is sealed with XChaCha20-Poly1305 under a fresh random 24-byte nonce (large enough
//! that random nonces never collide in practice). The associated data ([`Aad`]) names the table,
//! the row and the field, so a ciphertext copied into another row or column fails to open
//! instead of decrypting as someone else's token. Blob layout: `[version=1][nonce 24][ct+tag]`.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use brickwire_api::SecretString;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// The environment variable that holds the master key (base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "BRICKWIRE_MASTER_KEY";
/// The key file's name inside the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

const BLOB_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// The 32-byte key every secret is encrypted under. Zeroed on drop; never printed.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

/// Where [`MasterKey::load`] found the key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// From [`MASTER_KEY_ENV`].
    Environment,
    /// From the key file; `created` is true when this start generated it.
    KeyFile {
        /// The file's path.
        path: PathBuf,
        /// Whether the file was created by this call.
        created: bool,
    },
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        Self(key)
    }

    /// Wraps 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Parses the base64 form (standard or URL-safe alphabet, padding optional) of 32 bytes.
    pub fn from_base64(encoded: &SecretString) -> Result<Self> {
        let text = encoded.expose_secret().trim();
        let decoded = Zeroizing::new(
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
                .map_err(|_| Error::MasterKey("the master key is not valid base64".to_owned()))?,
        );
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            Error::MasterKey(format!(
                "the master key must be 32 bytes, base64-encoded; this one decodes to {} bytes",
                decoded.len()
            ))
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// The base64 (standard alphabet) form, as written to the key file.
    pub fn to_base64(&self) -> SecretString {
        SecretString::new(STANDARD.encode(self.0.as_ref()))
    }

    /// Loads the master key: `from_env` (the value of [`MASTER_KEY_ENV`], if set) wins;
    /// otherwise `<data_dir>/master.key` is read, or created with mode 0600 if it is missing.
    ///
    /// A key file readable by group or others is refused, as ssh refuses a loose private key.
    pub fn load(data_dir: &Path, from_env: Option<&SecretString>) -> Result<(Self, KeySource)> {
        if let Some(value) = from_env.filter(|v| !v.expose_secret().trim().is_empty()) {
            let key = Self::from_base64(value).map_err(|e| match e {
                Error::MasterKey(m) => Error::MasterKey(format!("{MASTER_KEY_ENV}: {m}")),
                other => other,
            })?;
            return Ok((key, KeySource::Environment));
        }
        let path = data_dir.join(MASTER_KEY_FILE);
        match Self::read_key_file(&path)? {
            Some(key) => Ok((
                key,
                KeySource::KeyFile {
                    path,
                    created: false,
                },
            )),
            None => {
                let key = Self::generate();
                match write_new_private_file(&path, key.to_base64().expose_secret().as_bytes()) {
                    Ok(()) => Ok((
                        key,
                        KeySource::KeyFile {
                            path,
                            created: true,
                        },
                    )),
                    // Another process created it between our read and our create: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let key = Self::read_key_file(&path)?.ok_or_else(|| {
                            Error::MasterKey(format!("{} vanished while starting", path.display()))
                        })?;
                        Ok((
                            key,
                            KeySource::KeyFile {
                                path,
                                created: false,
                            },
                        ))
                    }
                    Err(source) => Err(Error::Io {
                        context: format!("creating the key file {}", path.display()),
                        source,
                    }),
                }
            }
        }
    }

    fn read_key_file(path: &Path) -> Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => Zeroizing::new(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    context: format!("reading the key file {}", path.display()),
                    source,
                });
            }
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|source| Error::Io {
                    context: format!("reading the key file {}", path.display()),
                    source,
                })?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(Error::MasterKey(format!(
                    "the key file {} is accessible by other users (mode {:o}); run chmod 600 on it",
                    path.display(),
                    mode & 0o777
                )));
            }
        }
        let key = Self::from_base64(&SecretString::new(text.as_str())).map_err(|e| match e {
            Error::MasterKey(m) => Error::MasterKey(format!("{}: {m}", path.display())),
            other => other,
        })?;
        Ok(Some(key))
    }
}

/// Creates `path` (which must not exist) with mode 0600 and writes `contents`.
pub(crate) fn write_new_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// The associated data of one sealed value: which table, row and field it belongs to.
///
/// ```
/// use brickwire_service::crypto::Aad;
/// let aad = Aad::field("linked_accounts", "la_123", "credential");
/// assert_eq!(aad.as_bytes(), b"brickwire/v1|linked_accounts|la_123|credential");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aad(String);

impl Aad {
    /// The associated data for `field` of row `row_id` in `table`.
    pub fn field(table: &str, row_id: &str, field: &str) -> Self {
        Self(format!("brickwire/v1|{table}|{row_id}|{field}"))
    }

    /// The bytes bound into the ciphertext.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The blob is not in a format this version writes.
    #[error("the encrypted value has an unknown format")]
    Format,
    /// Authentication failed: wrong key, altered bytes, or a blob moved from another row/field.
    #[error(
        "the encrypted value does not authenticate (wrong master key, or altered or moved data)"
    )]
    Authentication,
}

/// Seals and opens values under the master key. Cheap to share behind an `Arc`.
pub struct Cipher {
    aead: XChaCha20Poly1305,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher([redacted])")
    }
}

impl Cipher {
    /// A cipher under `key`.
    pub fn new(key: &MasterKey) -> Self {
        Self {
            aead: XChaCha20Poly1305::new(Key::from_slice(key.0.as_ref())),
        }
    }

    /// Encrypts `plaintext` under a fresh random nonce, bound to `aad`.
    pub fn seal(&self, aad: &Aad, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut buffer = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
        buffer.extend_from_slice(plaintext);
        self.aead
            .encrypt_in_place(XNonce::from_slice(&nonce), aad.as_bytes(), &mut *buffer)
            .expect("XChaCha20-Poly1305 encrypts any length the store uses");
        let mut blob = Vec::with_capacity(1 + NONCE_LEN + buffer.len());
        blob.push(BLOB_VERSION);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&buffer);
        blob
    }

    /// Decrypts a blob written by [`Cipher::seal`] with the same `aad`.
    pub fn open(
        &self,
        aad: &Aad,
        blob: &[u8],
    ) -> std::result::Result<Zeroizing<Vec<u8>>, OpenError> {
        if blob.len() < 1 + NONCE_LEN + TAG_LEN || blob[0] != BLOB_VERSION {
            return Err(OpenError::Format);
        }
        let (nonce, ciphertext) = blob[1..].split_at(NONCE_LEN);
        let mut buffer = Zeroizing::new(ciphertext.to_vec());
        self.aead
            .decrypt_in_place(XNonce::from_slice(nonce), aad.as_bytes(), &mut *buffer)
            .map_err(|_| OpenError::Authentication)?;
        Ok(buffer)
    }

    /// Seals a secret string.
    pub fn seal_secret(&self, aad: &Aad, secret: &SecretString) -> Vec<u8> {
        self.seal(aad, secret.expose_secret().as_bytes())
    }

    /// Opens a value sealed by [`Cipher::seal_secret`].
    pub fn open_secret(
        &self,
        aad: &Aad,
        blob: &[u8],
    ) -> std::result::Result<SecretString, OpenError> {
        let bytes = self.open(aad, blob)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| OpenError::Format)?;
        Ok(SecretString::new(text))
    }
}

/// A new random token: `prefix` followed by 32 random bytes in URL-safe base64 (256 bits).
pub fn random_token(prefix: &str) -> SecretString {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(bytes.as_mut());
    SecretString::new(format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(bytes.as_ref())
    ))
}

/// A new random identifier: `prefix` followed by 16 random bytes in lowercase hex.
pub fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let mut id = String::with_capacity(prefix.len() + 32);
    id.push_str(prefix);
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// The SHA-256 of a high-entropy token (session tokens, OAuth state, API keys). A plain hash is
/// enough because these are 256-bit random values, not passwords: nothing is left to guess.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips_and_nonces_differ() {
        let cipher = Cipher::new(&MasterKey::generate());
        let aad = Aad::field("t", "r1", "f");
        let a = cipher.seal(&aad, b"dapi-secret");
        let b = cipher.seal(&aad, b"dapi-secret");
        assert_ne!(a, b, "a fresh nonce per value");
        assert_eq!(cipher.open(&aad, &a).unwrap().as_slice(), b"dapi-secret");
        assert!(!a.windows(11).any(|w| w == b"dapi-secret"));
    }

    #[test]
    fn a_blob_moved_to_another_row_or_field_does_not_open() {
        let cipher = Cipher::new(&MasterKey::generate());
        let blob = cipher.seal(&Aad::field("t", "r1", "f"), b"x");
        assert_eq!(
            cipher.open(&Aad::field("t", "r2", "f"), &blob),
            Err(OpenError::Authentication)
        );
        assert_eq!(
            cipher.open(&Aad::field("t", "r1", "g"), &blob),
            Err(OpenError::Authentication)
        );
    }

    #[test]
    fn wrong_key_or_tampering_is_an_error_never_garbage() {
        let aad = Aad::field("t", "r", "f");
        let mut blob = Cipher::new(&MasterKey::generate()).seal(&aad, b"secret");
        let other = Cipher::new(&MasterKey::generate());
        assert_eq!(other.open(&aad, &blob), Err(OpenError::Authentication));
        let last = blob.len() - 1;
        blob[last] ^= 1;
        assert!(other.open(&aad, &blob).is_err());
        assert_eq!(other.open(&aad, b"\x01short"), Err(OpenError::Format));
    }

    #[test]
    fn master_key_parses_base64_of_32_bytes_only() {
        let key = MasterKey::generate();
        let parsed = MasterKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(parsed.0.as_ref(), key.0.as_ref());
        let err = MasterKey::from_base64(&SecretString::new(STANDARD.encode([1u8; 16])))
            .unwrap_err()
            .to_string();
        assert!(err.contains("32 bytes"), "{err}");
        assert!(MasterKey::from_base64(&SecretString::new("not base64 !!")).is_err());
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (first, source) = MasterKey::load(dir.path(), None).unwrap();
        let path = dir.path().join(MASTER_KEY_FILE);
        assert_eq!(
            source,
            KeySource::KeyFile {
                path: path.clone(),
                created: true
            }
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (second, source) = MasterKey::load(dir.path(), None).unwrap();
        assert_eq!(
            source,
            KeySource::KeyFile {
                path,
                created: false
            }
        );
        assert_eq!(first.0.as_ref(), second.0.as_ref());
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        MasterKey::load(dir.path(), None).unwrap();
        let path = dir.path().join(MASTER_KEY_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = MasterKey::load(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn the_environment_wins_over_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        let (loaded, source) = MasterKey::load(dir.path(), Some(&key.to_base64())).unwrap();
        assert_eq!(source, KeySource::Environment);
        assert_eq!(loaded.0.as_ref(), key.0.as_ref());
        assert!(!dir.path().join(MASTER_KEY_FILE).exists());
        let err = MasterKey::load(dir.path(), Some(&SecretString::new("abc")))
            .unwrap_err()
            .to_string();
        assert!(err.contains(MASTER_KEY_ENV), "{err}");
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = MasterKey::from_bytes([0x41; 32]);
        let shown = format!("{key:?} {:?}", Cipher::new(&key));
        assert!(!shown.contains("65") && !shown.contains("AAAA"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn random_tokens_and_ids_are_distinct() {
        let a = random_token("bwk_");
        let b = random_token("bwk_");
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(a.expose_secret().starts_with("bwk_") && a.expose_secret().len() == 4 + 43);
        assert_ne!(random_id("la_"), random_id("la_"));
    }
}
