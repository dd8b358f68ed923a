//! `opsledger import-cmdb`: a CSV and a JSON file loaded into the service model; files with
//! duplicates, unknown references, self-relations and unknown relation types refused with
//! their line or index and field, writing nothing.

use crate::common::*;
use serde_json::json;

const SHOP_CSV: &str = "type,id,name,class,owner_group,criticality,status,from,relation,to
service,webshop,Web shop,,web-ops,critical,,,,
service,payments,Payments,,web-ops,high,,,,
ci,lb-01,Load balancer,load_balancer,net,high,,,,
ci,app-01,\"App server 1, rack A\",server,web-ops,,,,,
ci,db-01,Shop database,database,dba,critical,,,,
ci,db-02,Spare database,database,dba,low,planned,,,
relation,,,,,,,service:webshop,depends_on,ci:lb-01
relation,,,,,,,lb-01,connects_to,app-01
relation,,,,,,,app-01,depends_on,db-01
relation,,,,,,,service:payments,depends_on,db-01
";

#[test]
fn a_csv_file_loads_the_service_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("shop.csv");
    std::fs::write(&file, SHOP_CSV).unwrap();
    let out = ok(&["import-cmdb", "--data", s(&data), s(&file)]);
    assert!(
        out.contains("imported 2 service(s), 4 CI(s), 4 relation(s)"),
        "{out}"
    );
    let impact = call_ok(
        &["--data", s(&data)],
        "query.impact",
        json!({"ci": "db-01"}),
    );
    let names: Vec<&str> = impact["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["webshop", "payments"]);
    let app = call_ok(&["--data", s(&data)], "ci.get", json!({"ci": "app-01"}));
    assert_eq!(app["attributes"]["name"], "App server 1, rack A");
    let spare = call_ok(&["--data", s(&data)], "ci.get", json!({"ci": "db-02"}));
    assert_eq!(spare["status"], "planned");
}

#[test]
fn a_json_file_loads_too() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("shop.json");
    let rows = json!([
        {"type": "service", "id": "webshop", "name": "Web shop", "criticality": "critical"},
        {"type": "ci", "id": "db-01", "class": "database"},
        {"type": "relation", "from": "service:webshop", "relation": "depends_on", "to": "ci:db-01"}
    ]);
    std::fs::write(&file, rows.to_string()).unwrap();
    let out = ok(&["import-cmdb", "--data", s(&data), s(&file)]);
    assert!(
        out.contains("imported 1 service(s), 1 CI(s), 1 relation(s)"),
        "{out}"
    );
}

#[test]
fn a_bad_file_is_refused_with_its_place_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let header = "type,id,name,class,owner_group,criticality,status,from,relation,to\n";
    let cases = [
        (
            "ci,db-01,,,,,,,,\nci,db-01,,,,,,,,\n",
            "line 3 (id): a duplicate of line 2",
        ),
        (
            "ci,db-01,,,,,,,,\nrelation,,,,,,,db-01,depends_on,ghost\n",
            "line 3 (to): CI ghost is not in the service model (unknown_reference)",
        ),
        (
            "ci,db-01,,,,,,,,\nrelation,,,,,,,db-01,depends_on,db-01\n",
            "line 3 (to): CI db-01 cannot relate to itself (self_relation)",
        ),
        (
            "ci,db-01,,,,,,,,\nci,db-02,,,,,,,,\nrelation,,,,,,,db-01,hosts,db-02\n",
            "line 4 (relation)",
        ),
        ("ci,db-01,,,,urgent,,,,\n", "line 2 (criticality)"),
    ];
    for (body, expected) in cases {
        let file = dir.path().join("bad.csv");
        std::fs::write(&file, format!("{header}{body}")).unwrap();
        let out = run(&["import-cmdb", "--data", s(&data), s(&file)]);
        assert_exit(&out, 3);
        let err = stderr(&out);
        assert!(err.contains(expected), "{expected:?} not in {err}");
        assert!(err.contains("nothing was written"), "{err}");
    }
    // Nothing was written: the model is empty.
    let list = call_ok(&["--data", s(&data)], "ci.list", json!({}));
    assert_eq!(list, json!([]));
    let file = dir.path().join("bad.json");
    std::fs::write(&file, r#"[{"type": "ci", "id": "x", "colour": "red"}]"#).unwrap();
    let out = run(&["import-cmdb", "--data", s(&data), s(&file)]);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains("[0].colour: unknown key"),
        "{}",
        stderr(&out)
    );
}
