//! Client integration test of serving under concurrent deploys, on a cluster of its own:
//! 8 sessions score continuously while another deploys 20 new versions of the model in turn
//! (and trains another model between deploys).
//!
//! Every version scores the test row differently (measured beforehand, one deploy each),
//! and every statement scores 500 copies of that row, so a statement says which version
//! it used. Checked: no client gets an error; every statement used exactly one version
//! (one distinct score over its 500 rows) and a known one; a statement started after a
//! deploy committed uses that version or a newer one (the deployer publishes the number of
//! the version whose deploy has committed; deploys go in increasing order); a session's
//! statements never go back to an older version; each session, prepared statements
//! included, ends on the last version.

mod ops;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ops::{prerequisites, Cluster};

const VERSIONS: i32 = 21;
const READERS: usize = 8;

/// Version v is trained with a positive rate that grows with v, so the test row's score
/// grows with it.
fn train_version(c: &mut postgres::Client, v: i32) {
    let source = format!("SELECT x, ((abs(hashtext(g::text || ':{v}')) % 1000) / 1000.0 < 0.05 + 0.03 * {v} + 0.2 * x) AS y FROM train");
    let version: i32 = c.query_one("SELECT version FROM crm.train_classifier('m', $1, 'y', 'logistic')", &[&source]).unwrap().get(0);
    assert_eq!(version, v);
}

const STATEMENT: &str = "SELECT count(DISTINCT s)::int, min(s), max(s) FROM (SELECT crm.score('m', t) AS s FROM same t) q";

#[test]
fn scoring_sessions_see_one_committed_version_per_statement_during_20_deploys() {
    let Some(()) = prerequisites("load") else { return };
    let started = Instant::now();
    let mut cluster = Cluster::init("load");
    cluster.start();
    let mut c = cluster.create_database("crm");
    c.batch_execute(
        "CREATE TABLE train AS SELECT g, (g % 100) / 100.0::float8 AS x FROM generate_series(1, 2000) g;
         CREATE TABLE same AS SELECT 0.5::float8 AS x FROM generate_series(1, 500);",
    )
    .unwrap();
    for v in 1..=VERSIONS {
        train_version(&mut c, v);
    }
    // the score of each version, one deploy each
    let mut version_of: HashMap<u64, i32> = HashMap::new();
    for v in 1..=VERSIONS {
        c.execute("SELECT * FROM crm.deploy('m', $1)", &[&v]).unwrap();
        let row = c.query_one(STATEMENT, &[]).unwrap();
        let (distinct, score): (i32, f64) = (row.get(0), row.get(1));
        assert_eq!(distinct, 1);
        let other = version_of.insert(score.to_bits(), v);
        assert_eq!(other, None, "versions {other:?} and {v} score the test row alike ({score}): the test cannot tell them apart");
    }
    c.execute("SELECT * FROM crm.deploy('m', 1, 'start')", &[]).unwrap();
    let version_of = Arc::new(version_of);
    let committed = Arc::new(AtomicI32::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));

    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (url, version_of, committed, stop, errors) = (cluster.url("crm"), version_of.clone(), committed.clone(), stop.clone(), errors.clone());
            std::thread::spawn(move || {
                let mut s = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                // half the sessions run one prepared statement all along
                let prepared = (r % 2 == 0).then(|| s.prepare(STATEMENT).unwrap());
                let mut statements = 0u64;
                let mut seen: Vec<i32> = Vec::new();
                let mut last = 0;
                let mut finishing = false;
                loop {
                    if stop.load(Ordering::SeqCst) {
                        // one more statement, started after the last deploy committed
                        finishing = true;
                    }
                    let floor = committed.load(Ordering::SeqCst);
                    let result = match &prepared {
                        Some(p) => s.query_one(p, &[]),
                        None => s.query_one(STATEMENT, &[]),
                    };
                    statements += 1;
                    let row = match result {
                        Ok(row) => row,
                        Err(e) => {
                            errors.lock().unwrap().push(format!("reader {r}: {e:?}"));
                            break;
                        }
                    };
                    let (distinct, min, max): (i32, f64, f64) = (row.get(0), row.get(1), row.get(2));
                    let version = version_of.get(&min.to_bits()).copied();
                    let problem = if distinct != 1 || min != max {
                        Some(format!("{distinct} different scores in one statement ({min} .. {max})"))
                    } else if version.is_none() {
                        Some(format!("score {min} is no version's"))
                    } else if version < Some(floor) {
                        Some(format!("version {version:?} used after version {floor}'s deploy committed"))
                    } else if version < Some(last) {
                        Some(format!("version {version:?} after version {last} in the same session"))
                    } else {
                        None
                    };
                    if let Some(problem) = problem {
                        errors.lock().unwrap().push(format!("reader {r}, statement {statements}: {problem}"));
                        break;
                    }
                    last = version.unwrap();
                    if seen.last() != Some(&last) {
                        seen.push(last);
                    }
                    if finishing {
                        break;
                    }
                }
                (statements, seen, last)
            })
        })
        .collect();

    let mut deployer = cluster.connect("crm");
    let deploys_started = Instant::now();
    for v in 2..=VERSIONS {
        std::thread::sleep(Duration::from_millis(250));
        deployer.execute("SELECT * FROM crm.deploy('m', $1, 'load')", &[&v]).unwrap();
        // committed (autocommit): statements that start from now on must see v
        committed.store(v, Ordering::SeqCst);
        // and a training (of another name) between deploys, as a trainer would
        let source = format!("SELECT x, (abs(hashtext(g::text || ':{v}')) % 1000) / 1000.0 < 0.5 AS y FROM train");
        deployer.execute("SELECT * FROM crm.train_classifier('other', $1, 'y', 'logistic')", &[&source]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(250));
    stop.store(true, Ordering::SeqCst);
    let deploy_time = deploys_started.elapsed();

    let mut total = 0;
    let mut versions_seen = std::collections::BTreeSet::new();
    for (r, reader) in readers.into_iter().enumerate() {
        let (statements, seen, last) = reader.join().unwrap();
        eprintln!("reader {r}: {statements} statements, versions in order {seen:?}");
        total += statements;
        versions_seen.extend(seen);
        if errors.lock().unwrap().is_empty() {
            assert_eq!(last, VERSIONS, "reader {r} ended on version {last}");
        }
    }
    let errors = errors.lock().unwrap();
    assert!(errors.is_empty(), "{} client errors, first: {:?}", errors.len(), &errors[..errors.len().min(5)]);
    eprintln!(
        "{total} statements in {deploy_time:?} of deploys ({:.0}/s); {} versions seen; {:?} in all",
        total as f64 / deploy_time.as_secs_f64(),
        versions_seen.len(),
        started.elapsed()
    );
    assert!(total >= (READERS * 20) as u64, "only {total} statements ran: the readers did not run during the deploys");
    assert!(versions_seen.len() >= (VERSIONS / 2) as usize, "the readers saw only versions {versions_seen:?}: they did not score during the deploys");
    let log: i64 = deployer.query_one("SELECT count(*) FROM crm.deployment_log WHERE reason = 'load'", &[]).unwrap().get(0);
    assert_eq!(log, i64::from(VERSIONS - 1));
}
