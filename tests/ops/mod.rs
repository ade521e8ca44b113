//! Throw-away Postgres 15 clusters for the operations tests (`tests/standby.rs`,
//! `tests/crash.rs`, `tests/load.rs`): each test starts the servers it needs — initdb as
//! `postgres` into a directory under the cargo target dir, a free port, TCP on 127.0.0.1
//! only, its own socket directory, trust authentication — and a `Cluster` stops its server
//! (immediate shutdown) and removes its directory when dropped, also when the test panics
//! (then the directory is kept and the server log's tail is printed).
//!
//! These tests do not use `PG_CRM_TEST_URL` (they need servers they may kill, copy and
//! promote); they use the pg_crm installed in the system Postgres 15. Without initdb (or
//! without the installed extension) they print "skipped: ..." and pass, except under CI
//! (env `CI` set), where a missing prerequisite fails the test; inside `cargo pgrx test`
//! they skip.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

/// The Postgres 15 binaries (`PG_CRM_PG_BIN` overrides).
pub fn pg_bin() -> PathBuf {
    std::env::var_os("PG_CRM_PG_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

/// Whether this process runs as root (then servers run as `postgres`, which Postgres requires).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// A Postgres binary run as the server's owner (`postgres` when we are root).
pub fn pg_command(binary: &str) -> Command {
    let path = pg_bin().join(binary);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

/// Runs `command`, panicking with its output when it fails.
pub fn run_ok(command: &mut Command) -> Output {
    let out = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(out.status.success(), "{command:?} failed ({}):\n{}\n{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

/// None (and "skipped: ...") when what the tests need is missing; a panic under CI.
/// Also None inside `cargo pgrx test` (which runs every test target against the debug
/// build it installs): `scripts/test` runs these tests in its client-test step.
pub fn prerequisites(test: &str) -> Option<()> {
    if std::env::var_os("PGRX_BUILD_PROFILE").is_some() {
        eprintln!("skipped: {test}: inside cargo pgrx test (scripts/test runs the client tests against the release build later)");
        return None;
    }
    let mut missing = Vec::new();
    if !pg_bin().join("initdb").exists() {
        missing.push(format!("{} not found", pg_bin().join("initdb").display()));
    }
    let sharedir = Command::new(pg_bin().join("pg_config")).arg("--sharedir").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match sharedir {
        Some(dir) if Path::new(&dir).join("extension/pg_crm.control").exists() => {}
        _ => missing.push("pg_crm is not installed in the Postgres 15 of pg_config (./scripts/test installs it)".to_string()),
    }
    if is_root() && !Command::new("id").arg("postgres").output().map(|o| o.status.success()).unwrap_or(false) {
        missing.push("no `postgres` user to run the server as".to_string());
    }
    if missing.is_empty() {
        return Some(());
    }
    let why = missing.join("; ");
    assert!(std::env::var_os("CI").is_none(), "{test}: {why}, and CI is set: the test cannot run");
    eprintln!("skipped: {test}: {why}");
    None
}

/// A port nobody listens on now (bound to 127.0.0.1:0 and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One server: `base` (owned by the server's user) holds `data`, the socket and the log.
pub struct Cluster {
    pub name: String,
    pub base: PathBuf,
    pub data: PathBuf,
    pub port: u16,
}

fn fresh_base(name: &str) -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pg_crm_ops").join(format!("{name}-{}", std::process::id()));
    if base.exists() {
        // a leftover of an earlier run of this process id: stop it if it runs, then remove
        let data = base.join("data");
        if data.join("postmaster.pid").exists() {
            let _ = pg_command("pg_ctl").arg("-D").arg(&data).args(["-m", "immediate", "-w", "stop"]).output();
        }
        std::fs::remove_dir_all(&base).unwrap();
    }
    std::fs::create_dir_all(&base).unwrap();
    if is_root() {
        run_ok(Command::new("chown").arg("postgres:postgres").arg(&base));
    }
    base
}

impl Cluster {
    /// initdb a new cluster (not started).
    pub fn init(name: &str) -> Cluster {
        let base = fresh_base(name);
        let data = base.join("data");
        run_ok(pg_command("initdb").arg("-D").arg(&data).args(["--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "-U", "postgres", "--no-sync"]));
        let cluster = Cluster { name: name.to_string(), base, data, port: 0 };
        cluster.configure(
            "listen_addresses = '127.0.0.1'
fsync = off
max_connections = 40
max_wal_senders = 5
wal_level = replica
hot_standby = on
restart_after_crash = on
max_wal_size = 2GB
log_min_messages = warning
log_line_prefix = '%m [%p] '",
        );
        cluster
    }

    /// A copy of a running `primary` made with `pg_basebackup -X stream` (not started):
    /// with `standby`, `-R` makes it a streaming standby of the primary; without, it starts
    /// as an independent server.
    pub fn basebackup(primary: &Cluster, name: &str, standby: bool) -> Cluster {
        let base = fresh_base(name);
        let data = base.join("data");
        let mut command = pg_command("pg_basebackup");
        command.args(["-h", "127.0.0.1", "-p", &primary.port.to_string(), "-U", "postgres", "-X", "stream", "-c", "fast", "--no-sync", "-D"]).arg(&data);
        if standby {
            command.arg("-R");
        }
        run_ok(&mut command);
        Cluster { name: name.to_string(), base, data, port: 0 }
    }

    /// Appends settings to postgresql.conf (the last of a repeated setting wins).
    pub fn configure(&self, settings: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(self.data.join("postgresql.conf")).unwrap();
        writeln!(f, "\n# tests/ops\n{settings}").unwrap();
    }

    pub fn log_path(&self) -> PathBuf {
        self.base.join("server.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts the server on a free port (a new one on every try: another process may take
    /// the port between our probe and the server's bind).
    pub fn start(&mut self) {
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = if self.port == 0 { free_port() } else { self.port };
            self.configure(&format!("port = {port}\nunix_socket_directories = '{}'", self.base.display()));
            let out = pg_command("pg_ctl").arg("-D").arg(&self.data).arg("-l").arg(self.log_path()).args(["-w", "-t", "300", "start"]).output().unwrap();
            if out.status.success() {
                self.port = port;
                return;
            }
            last_error = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            self.port = 0;
        }
        panic!("cluster {} does not start: {last_error}\n{}", self.name, tail(&self.log(), 30));
    }

    /// Restarts after a stop, on the same port.
    pub fn start_again(&mut self) {
        let out = pg_command("pg_ctl").arg("-D").arg(&self.data).arg("-l").arg(self.log_path()).args(["-w", "-t", "300", "start"]).output().unwrap();
        assert!(out.status.success(), "cluster {} does not start again: {}\n{}", self.name, String::from_utf8_lossy(&out.stderr), tail(&self.log(), 30));
    }

    /// `pg_ctl stop -m <mode>` (smart, fast, immediate).
    pub fn stop(&self, mode: &str) {
        run_ok(pg_command("pg_ctl").arg("-D").arg(&self.data).args(["-m", mode, "-w", "-t", "120", "stop"]));
    }

    /// `pg_ctl promote -w`: a standby becomes a primary.
    pub fn promote(&self) {
        run_ok(pg_command("pg_ctl").arg("-D").arg(&self.data).args(["-w", "-t", "120", "promote"]));
    }

    pub fn url(&self, database: &str) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname={database} connect_timeout=10", self.port)
    }

    pub fn connect(&self, database: &str) -> Client {
        Client::connect(&self.url(database), NoTls).unwrap_or_else(|e| panic!("connect to {} ({}): {e}", self.name, self.url(database)))
    }

    /// A connection once the server accepts them again (after a crash restart), waiting
    /// up to `timeout`.
    pub fn connect_retrying(&self, database: &str, timeout: Duration) -> Client {
        let started = Instant::now();
        loop {
            match Client::connect(&self.url(database), NoTls) {
                Ok(mut c) => {
                    if c.simple_query("SELECT 1").is_ok() {
                        return c;
                    }
                }
                Err(e) if started.elapsed() > timeout => panic!("{} does not accept connections after {timeout:?}: {e}\n{}", self.name, tail(&self.log(), 30)),
                Err(_) => {}
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A new database with pg_crm; returns a connection to it.
    pub fn create_database(&self, database: &str) -> Client {
        self.connect("postgres").batch_execute(&format!("CREATE DATABASE {database}")).unwrap();
        let mut c = self.connect(database);
        c.batch_execute("CREATE EXTENSION pg_crm").unwrap();
        c
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            let _ = pg_command("pg_ctl").arg("-D").arg(&self.data).args(["-m", "immediate", "-w", "-t", "60", "stop"]).output();
        }
        if std::thread::panicking() {
            eprintln!("--- {} ({}) server log, last lines:\n{}", self.name, self.base.display(), tail(&self.log(), 40));
            eprintln!("--- kept {} for inspection", self.base.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The SQLSTATE of a failed statement (or the error's text when it has none: a lost connection).
pub fn sqlstate(error: &postgres::Error) -> String {
    error.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no SQLSTATE: {error}"))
}

/// Every row of `query` as its text form (`row::text`: float8 prints its shortest exact
/// form), sorted: two servers' outputs compare exactly, bit for bit.
pub fn rows_as_text(c: &mut Client, query: &str) -> Vec<String> {
    c.query(&format!("SELECT q::text FROM ({query}) q ORDER BY 1"), &[]).unwrap_or_else(|e| panic!("{query}: {e}")).iter().map(|r| r.get(0)).collect()
}

/// `kill -9 pid` (a server process; we are its owner or root).
pub fn sigkill(pid: i32) {
    run_ok(Command::new("kill").args(["-KILL", &pid.to_string()]));
}
