//! A change committed only once it is checked: the values it would make are checked (as
//! `check-config` checks, or as a running instance checks a reload) against the revision
//! they are made on, and committed only if the store is still at that revision; otherwise
//! checked again on the new one. Nothing unchecked is ever committed.

use plba_config::StoredLayer;

use crate::{Change, ConfigStore, ConfigStoreError};

/// How many times a change is checked again when another one lands meanwhile.
const ATTEMPTS: usize = 5;

/// What a checked commit made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The new revision, or the one already holding these values when nothing changed.
    pub revision: u64,
    /// The changes made (none when the values were already so).
    pub changes: Vec<Change>,
}

/// `layer` with `changes` made, at the next revision: what the store would hold.
pub fn with_changes(mut layer: StoredLayer, changes: &[Change]) -> StoredLayer {
    for change in changes {
        layer.values.retain(|(key, _)| *key != change.key);
        if let Some(value) = &change.value {
            layer.values.push((change.key.clone(), value.clone()));
        }
    }
    layer.revision += 1;
    layer
}

/// The changes that set `key` to `value` (`None` removes it) in `layer`: a value states
/// everything under its key, so keys under `key` are removed too; none when `layer` already
/// says so.
pub fn changes_setting(layer: &StoredLayer, key: &str, value: Option<String>) -> Vec<Change> {
    let under = format!("{key}.");
    let mut changes: Vec<Change> = layer
        .values
        .iter()
        .filter(|(k, _)| k.starts_with(&under))
        .map(|(k, _)| Change {
            key: k.clone(),
            value: None,
        })
        .collect();
    let current = layer.values.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    if current != value.as_ref() {
        changes.push(Change {
            key: key.to_owned(),
            value,
        });
    }
    changes
}

/// The first changed key whose value this host's environment or `--set` hides (its origin
/// in `snapshot`, a configuration with the change made): a check there would see that
/// value, not the one written, and the instances without it might refuse what was written.
pub fn shadowed(snapshot: &plba_config::ConfigSnapshot, changes: &[Change]) -> Option<String> {
    changes.iter().find_map(|change| {
        let origin = snapshot.origin_of(&change.key)?;
        let hidden = origin.starts_with("env ") || origin.starts_with("--set ");
        hidden.then(|| {
            format!(
                "{} comes from this host's {origin}, which hides the value written from the check (and from this host): write it where nothing overrides it, or drop the override",
                change.key
            )
        })
    })
}

impl ConfigStore {
    /// Commits the changes `plan` computes from `application`'s values as one revision by
    /// `actor`, once `check` accepts the values they make (given with the changes; its
    /// error, a reason, refuses them: [`ConfigStoreError::Refused`]).
    pub async fn commit_checked<Plan, Planned, Check, Checked>(
        &self,
        application: &str,
        actor: &str,
        comment: Option<&str>,
        plan: Plan,
        check: Check,
    ) -> Result<Committed, ConfigStoreError>
    where
        Plan: Fn(StoredLayer) -> Planned,
        Planned: Future<Output = Result<Vec<Change>, ConfigStoreError>>,
        Check: Fn(StoredLayer, Vec<Change>) -> Checked,
        Checked: Future<Output = Result<(), String>>,
    {
        let mut moved = None;
        for _ in 0..ATTEMPTS {
            let layer = self.layer(application).await?;
            let changes = plan(layer.clone()).await?;
            if changes.is_empty() {
                return Ok(Committed {
                    revision: layer.revision,
                    changes,
                });
            }
            let base = layer.revision;
            check(with_changes(layer, &changes), changes.clone())
                .await
                .map_err(ConfigStoreError::Refused)?;
            match self
                .apply_on(application, Some(base), &changes, actor, comment)
                .await
            {
                Ok(revision) => return Ok(Committed { revision, changes }),
                Err(error @ ConfigStoreError::Moved { .. }) => moved = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(moved.unwrap_or(ConfigStoreError::Moved {
            expected: 0,
            found: 0,
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn setting_a_key_replaces_what_is_under_it_and_the_same_value_changes_nothing() {
        let layer = StoredLayer {
            origin: String::new(),
            revision: 3,
            values: vec![
                ("bot.limits.max_lines".to_owned(), "5".to_owned()),
                ("bot.workers".to_owned(), "4".to_owned()),
            ],
        };
        let set = changes_setting(&layer, "bot.limits", Some("{max_lines: 7}".to_owned()));
        assert_eq!(
            set.iter()
                .map(|c| (c.key.as_str(), c.value.as_deref()))
                .collect::<Vec<_>>(),
            vec![
                ("bot.limits.max_lines", None),
                ("bot.limits", Some("{max_lines: 7}"))
            ]
        );
        assert!(changes_setting(&layer, "bot.workers", Some("4".to_owned())).is_empty());
        assert!(changes_setting(&layer, "bot.summary", None).is_empty());
    }

    #[tokio::test]
    async fn a_refused_change_is_not_committed_and_an_accepted_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("c.db").display());
        let store = ConfigStore::open(&url).await.unwrap();
        let set = |value: &str| Change {
            key: "bot.workers".to_owned(),
            value: Some(value.to_owned()),
        };
        let positive = async |layer: StoredLayer, _: Vec<Change>| {
            let ok = layer.values.iter().all(|(_, v)| !v.starts_with('-'));
            if ok {
                Ok(())
            } else {
                Err("workers must be positive".to_owned())
            }
        };
        let refused = store
            .commit_checked(
                "bot",
                "ana",
                None,
                |_| async { Ok(vec![set("-1")]) },
                positive,
            )
            .await;
        assert!(
            matches!(&refused, Err(ConfigStoreError::Refused(why)) if why.contains("positive")),
            "{refused:?}"
        );
        assert_eq!(store.revision("bot").await.unwrap(), 0);
        let made = store
            .commit_checked(
                "bot",
                "ana",
                Some("busier"),
                |_| async { Ok(vec![set("4")]) },
                positive,
            )
            .await
            .unwrap();
        assert_eq!((made.revision, made.changes.len()), (1, 1));
        let again = store
            .commit_checked("bot", "ana", None, |_| async { Ok(Vec::new()) }, positive)
            .await
            .unwrap();
        assert_eq!((again.revision, again.changes.len()), (1, 0));
    }
}
