//! The IMAP commands the batches send, each under the command timeout, and the arithmetic
//! of UID sets and memory per round trip.

use std::collections::HashMap;
use std::time::SystemTime;

use futures_util::TryStreamExt;

use crate::options::{ImapError, ImapOptions};
use crate::session::{ImapSession, timed};

/// Whether a `FETCH FLAGS` answer holds every flag of `wanted` (`(\Seen \Flagged)`).
pub(super) fn has_flags(fetch: &async_imap::types::Fetch, wanted: &str) -> bool {
    use async_imap::types::Flag;
    let present: Vec<Flag<'_>> = fetch.flags().collect();
    wanted
        .trim_matches(['(', ')'])
        .split_whitespace()
        .all(|name| {
            let flag = match name {
                "\\Seen" => Flag::Seen,
                "\\Flagged" => Flag::Flagged,
                "\\Deleted" => Flag::Deleted,
                "\\Answered" => Flag::Answered,
                "\\Draft" => Flag::Draft,
                other => Flag::Custom(other.to_owned().into()),
            };
            present.contains(&flag)
        })
}

/// Adds `flags` to `uids`; returns the UIDs the server answered for (those it knows).
pub(super) async fn add_flags(
    session: &mut ImapSession,
    options: &ImapOptions,
    uids: &[u32],
    flags: &str,
) -> Result<std::collections::HashSet<u32>, ImapError> {
    if uids.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    // Not `.SILENT`: the server answers each message it knows with its flags.
    let stream = timed(
        options,
        "UID STORE",
        session.uid_store(uid_set(uids), format!("+FLAGS {flags}")),
    )
    .await?;
    let answers: Vec<_> = timed(options, "UID STORE", stream.try_collect::<Vec<_>>()).await?;
    Ok(answers.iter().filter_map(|f| f.uid).collect())
}

/// A UID set for a command: `4,7,9`.
pub(super) fn uid_set(uids: &[u32]) -> String {
    let mut set = String::with_capacity(uids.len() * 6);
    for (n, uid) in uids.iter().enumerate() {
        if n > 0 {
            set.push(',');
        }
        set.push_str(&uid.to_string());
    }
    set
}

/// `RFC822.SIZE` of each of `uids` this session sees and that is not `\Seen` yet (the others
/// are absent).
pub(super) async fn message_sizes(
    session: &mut ImapSession,
    options: &ImapOptions,
    uids: &[u32],
) -> Result<HashMap<u32, u32>, ImapError> {
    if uids.is_empty() {
        return Ok(HashMap::new());
    }
    let fetches = timed(
        options,
        "UID FETCH",
        session.uid_fetch(uid_set(uids), "(RFC822.SIZE FLAGS)"),
    )
    .await?;
    let fetches: Vec<_> = timed(options, "UID FETCH", fetches.try_collect::<Vec<_>>()).await?;
    Ok(fetches
        .iter()
        // A message already `\Seen` was completed since it was published (a scan that
        // raced its completion published it again): leave it out, as if gone.
        .filter(|f| !f.flags().any(|flag| flag == async_imap::types::Flag::Seen))
        .filter_map(|f| Some((f.uid?, f.size?)))
        .collect())
}

/// The whole message and INTERNALDATE of each of `uids`, without setting `\Seen`.
pub(super) async fn message_bodies(
    session: &mut ImapSession,
    options: &ImapOptions,
    uids: &[u32],
) -> Result<HashMap<u32, (Vec<u8>, Option<SystemTime>)>, ImapError> {
    let fetches = timed(
        options,
        "UID FETCH",
        session.uid_fetch(uid_set(uids), "(BODY.PEEK[] INTERNALDATE)"),
    )
    .await?;
    let fetches: Vec<_> = timed(options, "UID FETCH", fetches.try_collect::<Vec<_>>()).await?;
    Ok(fetches
        .iter()
        .filter_map(|f| {
            let body = f.body()?;
            let received = f.internal_date().map(|d| SystemTime::from(d.to_utc()));
            Some((f.uid?, (body.to_vec(), received)))
        })
        .collect())
}

/// `uids` split into runs whose sizes add up to at most `budget` (a larger message alone).
pub(super) fn within_budget(uids: &[u32], sizes: &HashMap<u32, u32>, budget: u64) -> Vec<Vec<u32>> {
    let mut chunks: Vec<Vec<u32>> = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0u64;
    for &uid in uids {
        let size = u64::from(sizes.get(&uid).copied().unwrap_or(0));
        if !current.is_empty() && bytes + size > budget {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(uid);
        bytes += size;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

pub(super) async fn store(
    session: &mut ImapSession,
    options: &ImapOptions,
    uid: u32,
    flags: &str,
) -> Result<(), ImapError> {
    let stream = timed(
        options,
        "UID STORE",
        session.uid_store(uid.to_string(), flags),
    )
    .await?;
    timed(options, "UID STORE", stream.try_collect::<Vec<_>>()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_set_lists_every_uid() {
        assert_eq!(uid_set(&[4]), "4");
        assert_eq!(uid_set(&[4, 7, 9]), "4,7,9");
    }

    #[test]
    fn bodies_are_fetched_within_the_budget_and_a_large_message_alone() {
        let sizes: HashMap<u32, u32> = [(1, 40), (2, 40), (3, 40), (4, 500), (5, 10)].into();
        assert_eq!(
            within_budget(&[1, 2, 3, 4, 5], &sizes, 100),
            vec![vec![1, 2], vec![3], vec![4], vec![5]]
        );
        assert_eq!(within_budget(&[], &sizes, 100), Vec::<Vec<u32>>::new());
    }
}
