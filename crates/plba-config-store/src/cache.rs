//! The last values an instance applied, kept in a file so it can start while the database
//! is away. The store holds no secret, so neither does the cache; it is still written
//! readable by its owner only, as configuration often names internal hosts.

use std::path::Path;

use plba_config::StoredLayer;
use serde::{Deserialize, Serialize};

use crate::ConfigStoreError;

/// The largest cache read back: far more than any configuration's values.
const MAX_CACHE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
struct Cached {
    origin: String,
    revision: u64,
    values: Vec<(String, String)>,
}

fn failed(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> ConfigStoreError {
    let path = path.display().to_string();
    move |source| ConfigStoreError::Cache { path, what, source }
}

/// Writes `layer` to `path` whole: to a file beside it, then renamed over it, so a crash
/// leaves the old cache or the new one, never half of one.
pub async fn save(path: &Path, layer: &StoredLayer) -> Result<(), ConfigStoreError> {
    let cached = Cached {
        origin: layer.origin.clone(),
        revision: layer.revision,
        values: layer.values.clone(),
    };
    let text = serde_json::to_vec_pretty(&cached)
        .map_err(|e| failed(path, "cannot be written")(std::io::Error::other(e)))?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(&partial)
        .await
        .map_err(failed(&partial, "cannot be created"))?;
    tokio::io::AsyncWriteExt::write_all(&mut file, &text)
        .await
        .map_err(failed(&partial, "cannot be written"))?;
    file.sync_all()
        .await
        .map_err(failed(&partial, "cannot be written"))?;
    tokio::fs::rename(&partial, path)
        .await
        .map_err(failed(path, "cannot be replaced"))
}

/// Reads the layer [`save`] wrote to `path`.
pub async fn load(path: &Path) -> Result<StoredLayer, ConfigStoreError> {
    let metadata = tokio::fs::metadata(path)
        .await
        .map_err(failed(path, "cannot be read"))?;
    if !metadata.is_file() || metadata.len() > MAX_CACHE_BYTES {
        return Err(failed(path, "is not a cache")(std::io::Error::other(
            "not a regular file of at most 16 MiB",
        )));
    }
    let text = tokio::fs::read(path)
        .await
        .map_err(failed(path, "cannot be read"))?;
    let cached: Cached = serde_json::from_slice(&text)
        .map_err(|e| failed(path, "is not a cache")(std::io::Error::other(e)))?;
    Ok(StoredLayer {
        origin: format!("{} (cached in {})", cached.origin, path.display()),
        revision: cached.revision,
        values: cached.values,
    })
}

/// The cache at `path`, when it holds the values of `database` (as [`shown_url`] shows
/// it): another database's cache never stands in.
///
/// [`shown_url`]: crate::shown_url
pub async fn load_of(path: &Path, database: &str) -> Result<StoredLayer, ConfigStoreError> {
    let layer = load(path).await?;
    if !layer.origin.starts_with(&format!("database {database} (")) {
        return Err(failed(path, "holds another database's values")(
            std::io::Error::other(layer.origin),
        ));
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn a_cache_gives_back_the_layer_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let layer = StoredLayer {
            origin: "database sqlite://c.db".to_owned(),
            revision: 4,
            values: vec![("bot.workers".to_owned(), "3".to_owned())],
        };
        save(&path, &layer).await.unwrap();
        let back = load(&path).await.unwrap();
        assert_eq!((back.revision, &back.values), (4, &layer.values));
        assert!(back.origin.contains("cached in"), "{}", back.origin);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(load_of(&path, "sqlite://c.db").await.is_ok());
        let other = load_of(&path, "sqlite://other.db").await.unwrap_err();
        assert!(other.to_string().contains("another database"), "{other}");
        std::fs::write(&path, "{").unwrap();
        let error = load(&path).await.unwrap_err().to_string();
        assert!(error.contains("is not a cache"), "{error}");
    }
}
