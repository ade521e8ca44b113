//! The churn dataset harness through SQL, as users train: mlc_churn with the protocol of
//! ../shared/datasets/README.md (test = rows whose 1-based index is divisible by 5), each
//! algorithm's holdout ROC AUC asserted against what it reached when it was accepted
//! (scikit-learn's HistGradientBoosting reaches 0.9192 on the same split). Under CI a
//! missing dataset fails.

mod common;

use common::{connect, fresh_database};

#[test]
fn mlc_churn_holdout_auc_through_sql() {
    let Some(path) = common::shared_dataset("mlc_churn.csv") else { return };
    let Some(url) = fresh_database("it_mlc_churn") else { return };
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(|s| s.trim_matches('"').to_string()).collect();
    let rows: Vec<Vec<String>> = lines.filter(|l| !l.trim().is_empty()).map(|l| l.split(',').map(|s| s.trim_matches('"').to_string()).collect()).collect();
    assert_eq!(rows.len(), 5000);
    // numeric where every value parses (NA = NULL), text otherwise
    let numeric: Vec<bool> = (0..header.len()).map(|j| rows.iter().all(|r| r[j] == "NA" || r[j].parse::<f64>().is_ok())).collect();
    let columns: Vec<String> = header.iter().zip(&numeric).map(|(h, &n)| format!("\"{h}\" {}", if n { "float8" } else { "text" })).collect();
    let mut c = connect(&url);
    c.batch_execute(&format!("CREATE TABLE mlc (row_number int, {}, is_test bool)", columns.join(", "))).unwrap();
    let mut copy = String::new();
    for (i, r) in rows.iter().enumerate() {
        let n = i + 1;
        let cells: Vec<&str> = r.iter().map(|v| if v == "NA" { "\\N" } else { v.as_str() }).collect();
        copy.push_str(&format!("{n}\t{}\t{}\n", cells.join("\t"), n % 5 == 0));
    }
    let mut writer = c.copy_in("COPY mlc FROM STDIN").unwrap();
    std::io::Write::write_all(&mut writer, copy.as_bytes()).unwrap();
    writer.finish().unwrap();
    for (algorithm, at_least) in [("logistic", 0.80), ("gradient_boosting", 0.91), ("random_forest", 0.91), ("auto", 0.915)] {
        let auc: f64 = c
            .query_one(
                "SELECT (metrics->>'roc_auc')::float8 FROM crm.train_classifier('mlc_' || $1, 'mlc', 'churn', $1, '{\"key\": \"row_number\", \"split\": \"is_test\"}')",
                &[&algorithm],
            )
            .unwrap()
            .get(0);
        eprintln!("mlc_churn {algorithm}: holdout ROC AUC {auc:.4}");
        assert!(auc >= at_least, "{algorithm}: ROC AUC {auc:.4} < {at_least}");
    }
    // Monitoring on real data: the test rows evaluate as the holdout did (refit off, so the
    // model never saw them); one feature scaled by 1.3 is flagged, and no other.
    let auc: f64 = c
        .query_one(
            "SELECT (metrics->>'roc_auc')::float8 FROM crm.train_classifier('mlc_monitor', 'mlc', 'churn', 'gradient_boosting', '{\"key\": \"row_number\", \"split\": \"is_test\", \"refit\": false}')",
            &[],
        )
        .unwrap()
        .get(0);
    let evaluated: f64 = c.query_one("SELECT (crm.evaluate('mlc_monitor', 'SELECT * FROM mlc WHERE is_test')->>'roc_auc')::float8", &[]).unwrap().get(0);
    assert_eq!(evaluated, auc);
    let flagged: Vec<String> = c
        .query("SELECT feature FROM crm.drift('mlc_monitor', 'SELECT * FROM mlc WHERE is_test') WHERE flagged", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(flagged.is_empty(), "the test rows are the training population: {flagged:?}");
    let shifted = "SELECT row_number, state, account_length, area_code, international_plan, voice_mail_plan, number_vmail_messages, total_day_minutes * 1.3 AS total_day_minutes,
        total_day_calls, total_day_charge, total_eve_minutes, total_eve_calls, total_eve_charge, total_night_minutes, total_night_calls, total_night_charge,
        total_intl_minutes, total_intl_calls, total_intl_charge, number_customer_service_calls FROM mlc";
    let flagged: Vec<String> = c
        .query(&format!("SELECT feature FROM crm.drift('mlc_monitor', $${shifted}$$) WHERE flagged AND feature <> '(score)' ORDER BY 1"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(flagged, ["total_day_minutes"]);
}
