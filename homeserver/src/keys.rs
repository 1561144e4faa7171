//! The federation signing key in the data directory: created on first start, owner-only, reused
//! after.

use std::{
    fs::{self, OpenOptions},
    io::{self, Write as _},
    os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
};

use parley_federation::{KeyError, ServerSigningKey, keys::RetiredKey};
use zeroize::Zeroizing;

/// The key file's name inside the data directory.
pub const SIGNING_KEY_FILE: &str = "signing.key";

/// The retired keys' file inside the data directory: a JSON list of [`RetiredKey`], kept so
/// that the key document lists them under `old_verify_keys`.
pub const RETIRED_KEYS_FILE: &str = "retired-signing-keys.json";

/// Why the signing key cannot be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing failed.
    #[error("{path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The file does not hold a key.
    #[error("{path} is not a Parley signing key")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: KeyError,
    },
    /// The retired keys' file is not a JSON list of retired keys.
    #[error("{path} is not a list of retired keys")]
    InvalidRetired {
        /// The file.
        path: PathBuf,
    },
    /// Other users could read the key.
    #[error("{path} is readable by other users (mode {mode:o}); run `chmod 600` on it")]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Makes the data directory (owner-only) if it is missing.
pub fn ensure_data_dir(dir: &Path) -> Result<(), KeyFileError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| KeyFileError::Io {
            path: dir.to_owned(),
            source,
        })
}

/// Loads the signing key from `data_dir`, creating it on first start.
pub fn load_or_create(data_dir: &Path) -> Result<ServerSigningKey, KeyFileError> {
    let path = data_dir.join(SIGNING_KEY_FILE);
    let text = load_or_create_secret(data_dir, SIGNING_KEY_FILE, || {
        ServerSigningKey::generate().encode()
    })?;
    ServerSigningKey::decode(&text).map_err(|source| KeyFileError::Invalid { path, source })
}

/// The retired keys in `data_dir` (none if the file does not exist).
pub fn load_retired(data_dir: &Path) -> Result<Vec<RetiredKey>, KeyFileError> {
    let path = data_dir.join(RETIRED_KEYS_FILE);
    match read_secret(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|_| KeyFileError::InvalidRetired { path }),
        Err(KeyFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

/// `parley keys rotate`: retires the current key (expired now) and writes a new one. Returns
/// the retired and the new key. A running server keeps signing with the key it started with
/// until it restarts.
///
/// The retired list is written before the new key, so a crash in between leaves the old key
/// current and also listed as retired, which the key document tolerates (it skips a retired
/// key that is current); the next rotation then retires it properly.
pub fn rotate(
    data_dir: &Path,
    now: std::time::SystemTime,
) -> Result<(RetiredKey, ServerSigningKey), KeyFileError> {
    let current = load_or_create(data_dir)?;
    let mut retired = load_retired(data_dir)?;
    let old = RetiredKey::retire(&current, now);
    retired.retain(|key| key.key_id != old.key_id);
    retired.push(old.clone());
    let text =
        serde_json::to_string_pretty(&retired).map_err(|_| KeyFileError::InvalidRetired {
            path: data_dir.join(RETIRED_KEYS_FILE),
        })?;
    replace(&data_dir.join(RETIRED_KEYS_FILE), &text)?;
    let mut new = ServerSigningKey::generate();
    while new.key_id() == current.key_id() {
        new = ServerSigningKey::generate();
    }
    replace(&data_dir.join(SIGNING_KEY_FILE), &new.encode())?;
    Ok((old, new))
}

/// Writes `contents` to a new owner-only file beside `path`, synced; returns its path. Whatever
/// fails, no temporary file is left behind.
fn write_beside(path: &Path, contents: &str) -> Result<PathBuf, KeyFileError> {
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    let io_err = |source| KeyFileError::Io {
        path: temp.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io_err)?;
    let written = file
        .write_all(contents.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(source) = written {
        let _ = fs::remove_file(&temp);
        return Err(io_err(source));
    }
    Ok(temp)
}

/// Writes `contents` beside `path` (owner-only) and renames it over `path`.
fn replace(path: &Path, contents: &str) -> Result<(), KeyFileError> {
    let temp = write_beside(path, contents)?;
    fs::rename(&temp, path).map_err(|source| {
        let _ = fs::remove_file(&temp);
        KeyFileError::Io { path: temp, source }
    })
}

/// Reads the secret file `name` in `data_dir`, first writing `make()` to it if it does not
/// exist. The file is owner-only; one readable by others is refused.
pub fn load_or_create_secret(
    data_dir: &Path,
    name: &str,
    make: impl FnOnce() -> Zeroizing<String>,
) -> Result<Zeroizing<String>, KeyFileError> {
    ensure_data_dir(data_dir)?;
    let path = data_dir.join(name);
    match read_secret(&path) {
        Err(KeyFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            create(&path, &make())?;
            read_secret(&path)
        }
        other => other,
    }
}

fn read_secret(path: &Path) -> Result<Zeroizing<String>, KeyFileError> {
    let io_err = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mode = fs::metadata(path).map_err(io_err)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Exposed {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(Zeroizing::new(fs::read_to_string(path).map_err(io_err)?))
}

/// Writes `contents` beside `path` and links it into place, so that a crash never leaves half
/// a secret and two processes starting at once end up with the same one.
fn create(path: &Path, contents: &str) -> Result<(), KeyFileError> {
    let temp = write_beside(path, contents)?;
    let linked = fs::hard_link(&temp, path);
    let _ = fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created secret key file");
            Ok(())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(KeyFileError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn created_once_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = load_or_create(&data).unwrap();
        let mode = fs::metadata(data.join(SIGNING_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create(&data).unwrap();
        assert_eq!(first.key_id(), again.key_id());
        assert_eq!(first.public_key_base64(), again.public_key_base64());
    }

    #[test]
    fn an_exposed_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path()).unwrap();
        let path = dir.path().join(SIGNING_KEY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert!(
            matches!(err, KeyFileError::Exposed { mode: 0o644, .. }),
            "{err}"
        );
    }

    #[test]
    fn rotation_retires_the_old_key_and_writes_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        assert!(load_retired(dir.path()).unwrap().is_empty());
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_000_000);
        let (old, new) = rotate(dir.path(), at).unwrap();
        assert_eq!(old.key_id, first.key_id());
        assert_eq!(old.expired_ts, 1_764_000_000_000);
        assert_eq!(load_or_create(dir.path()).unwrap().key_id(), new.key_id());
        assert_eq!(
            load_retired(dir.path()).unwrap(),
            std::slice::from_ref(&old)
        );
        let (second, _) = rotate(dir.path(), at).unwrap();
        assert_eq!(load_retired(dir.path()).unwrap(), [old, second]);
        for file in [SIGNING_KEY_FILE, RETIRED_KEYS_FILE] {
            let mode = fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }

    #[test]
    fn garbage_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SIGNING_KEY_FILE);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, KeyFileError::Invalid { .. }), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"");
    }
}
