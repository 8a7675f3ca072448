//! The server's limit: a loop that only takes every unseen mail's body and marks it seen,
//! 1,000 UIDs a round trip, no parsing and no storing: what an IMAP server can hand out.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// UIDs per `UID FETCH` / `UID STORE`.
const BATCH: usize = 1_000;

/// One IMAP connection, speaking just enough of the protocol for this loop.
struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
}

impl Session {
    /// Sends `command` and reads up to its tagged reply; returns the untagged lines (with
    /// literals read and kept apart) and how many literal bytes came.
    fn run(&mut self, command: &str) -> (Vec<String>, usize) {
        self.tag += 1;
        let tag = format!("b{}", self.tag);
        write!(self.writer, "{tag} {command}\r\n").unwrap();
        let mut lines = Vec::new();
        let mut literal_bytes = 0;
        loop {
            let mut line = String::new();
            assert!(
                self.reader.read_line(&mut line).unwrap() > 0,
                "the server closed the connection during {command:?}"
            );
            // A line ending in `{N}` announces N bytes of literal (a body) to read whole.
            while let Some(size) = literal_size(&line) {
                let mut body = vec![0; size];
                self.reader.read_exact(&mut body).unwrap();
                literal_bytes += size;
                let mut rest = String::new();
                self.reader.read_line(&mut rest).unwrap();
                line = rest;
            }
            if let Some(status) = line.strip_prefix(&format!("{tag} ")) {
                assert!(status.starts_with("OK"), "{command:?} failed: {status}");
                return (lines, literal_bytes);
            }
            lines.push(line);
        }
    }
}

/// `N` when `line` ends with a literal's announcement `{N}`.
fn literal_size(line: &str) -> Option<usize> {
    let line = line.trim_end_matches(['\r', '\n']);
    let open = line.rfind('{')?;
    line.strip_suffix('}')?.get(open + 1..)?.parse().ok()
}

/// Fetches every unseen mail of INBOX and marks it seen, `BATCH` UIDs a round trip; returns
/// how many it handled.
pub(crate) fn fetch_and_mark(port: u16, user: &str, password: &str) -> usize {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut session = Session {
        reader: BufReader::with_capacity(1 << 20, stream.try_clone().unwrap()),
        writer: stream,
        tag: 0,
    };
    let mut greeting = String::new();
    session.reader.read_line(&mut greeting).unwrap();
    session.run(&format!("LOGIN {user} {password}"));
    session.run("SELECT INBOX");
    let (lines, _) = session.run("UID SEARCH UNSEEN");
    let uids: Vec<u32> = lines
        .iter()
        .filter_map(|line| line.strip_prefix("* SEARCH"))
        .flat_map(|rest| rest.split_whitespace().map(|uid| uid.parse().unwrap()))
        .collect();
    let mut handled = 0;
    for batch in uids.chunks(BATCH) {
        let set = batch
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let (fetched, bytes) = session.run(&format!("UID FETCH {set} BODY.PEEK[]"));
        assert!(
            bytes > 0 && fetched.len() >= batch.len(),
            "bodies came back"
        );
        session.run(&format!("UID STORE {set} +FLAGS.SILENT (\\Seen)"));
        handled += batch.len();
    }
    session.run("LOGOUT");
    handled
}
