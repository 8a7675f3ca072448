//! A private PostgreSQL server for tests: its own cluster (`initdb`) in a temporary
//! directory, on 127.0.0.1 at a free port, run by an unprivileged user (PostgreSQL refuses
//! root; as root the tests use the `postgres` account the Debian package creates).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::servers::{ensure_package, free_port, is_root, unavailable};

/// The superuser the tests connect as.
const USER: &str = "plba";
/// The database every test gets.
const DATABASE: &str = "orders";

/// A running private cluster; stopped (immediately) when dropped.
#[derive(Debug)]
pub struct PostgresServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    running: bool,
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`.
fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

impl PostgresServer {
    /// The test user's password.
    pub const PASSWORD: &'static str = "secret";

    /// Installs `postgresql` when missing and starts a cluster with the database `orders`;
    /// `None` only outside CI when PostgreSQL cannot be had.
    pub fn start() -> Option<Self> {
        let bin = match ensure_package("postgresql", server_bin) {
            Ok(bin) => bin,
            Err(why) => {
                unavailable("PostgreSQL", &why)?;
                return None;
            }
        };
        let dir = tempfile::tempdir().expect("temp dir for PostgreSQL");
        let server = Self {
            bin,
            dir,
            port: free_port(),
            running: false,
        };
        if let Err(why) = server.init() {
            unavailable("PostgreSQL", &why)?;
            return None;
        }
        let mut server = server;
        server.start_again();
        let created = server.client("createdb", &[DATABASE]);
        assert!(
            created.status.success(),
            "createdb failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        Some(server)
    }

    /// `initdb` as the unprivileged user, with a password for TCP logins.
    fn init(&self) -> Result<(), String> {
        let pwfile = self.dir.path().join("pwfile");
        std::fs::write(&pwfile, Self::PASSWORD).map_err(|e| format!("cannot write pwfile: {e}"))?;
        if is_root() {
            let chowned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(self.dir.path())
                .status()
                .map_err(|e| format!("cannot run chown: {e}"))?;
            if !chowned.success() {
                return Err(
                    "chown to the postgres account failed (is the package's account there?)"
                        .to_owned(),
                );
            }
        }
        let output = self
            .as_owner(&self.bin.join("initdb"))
            .arg("-D")
            .arg(self.data())
            .args([
                "-U",
                USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .args(["-E", "UTF8", "--no-sync", "--no-instructions"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A command run by the cluster's owner: `postgres` when the tests run as root.
    fn as_owner(&self, program: &Path) -> Command {
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        self.as_owner(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl")
    }

    /// Starts the server (again) on its port and waits until it accepts connections.
    pub fn start_again(&mut self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        // Marked running first: a start that fails half-way may leave a server behind, and
        // Drop stops it.
        self.running = true;
        let started = self.pg_ctl(&[
            "-w",
            "-t",
            "60",
            "-l",
            &log.display().to_string(),
            "-o",
            &options,
            "start",
        ]);
        assert!(
            started.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&started.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server (fast shutdown: open transactions are rolled back, clients cut off),
    /// as an outage of the database would look to its clients.
    pub fn stop(&mut self) {
        if self.running {
            let _ = self.pg_ctl(&["-w", "-m", "fast", "stop"]);
            self.running = false;
        }
    }

    /// A client program of the cluster (`psql`, `createdb`, …) over TCP as the test user.
    fn client(&self, program: &str, args: &[&str]) -> Output {
        Command::new(self.bin.join(program))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .args(args)
            .env("PGPASSWORD", Self::PASSWORD)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"))
    }

    /// Runs `sql` in the test database and returns its rows, one per line, columns
    /// separated by `|` (`psql -At`); panics when it fails.
    pub fn query(&self, sql: &str) -> String {
        self.try_query(DATABASE, sql)
            .unwrap_or_else(|| panic!("psql failed on {sql:?}"))
    }

    /// Runs `sql` in `database`: its rows as [`query`](Self::query) gives them, or `None`
    /// when it fails (a table not made yet, say).
    pub fn try_query(&self, database: &str, sql: &str) -> Option<String> {
        let output = self.client("psql", &["-d", database, "-At", "-c", sql]);
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Runs `sql` in a session of its own, in the background, until the returned process is
    /// killed: a transaction that holds a lock, say (`BEGIN; LOCK TABLE …; SELECT
    /// pg_sleep(600);`).
    pub fn session(&self, sql: &str) -> std::process::Child {
        Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .args(["-d", DATABASE, "-At", "-c", sql])
            .env("PGPASSWORD", Self::PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("run psql: {e}"))
    }

    /// Creates another database and returns its URL (as [`url`](Self::url) does).
    pub fn create_database(&self, name: &str) -> String {
        let created = self.client("createdb", &[name]);
        assert!(
            created.status.success(),
            "createdb {name} failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// `postgres://plba@127.0.0.1:<port>/orders` (the password is apart: [`Self::password`]).
    pub fn url(&self) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The test user's password ([`Self::PASSWORD`]).
    pub fn password(&self) -> &'static str {
        Self::PASSWORD
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if self.running {
            let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
        }
    }
}
