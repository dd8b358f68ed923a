//! The whole story through `Dispatcher::handle_with`: an incident, the problem behind it, its
//! known error, the change that fixes it, the incident resolved by the fix, and the KPIs; on an
//! in-memory engine and on a sled engine closed and reopened midway. As-of queries give the
//! answers given earlier.

use crate::common::*;
use chrono::Duration;
use serde_json::{Value, json};

fn status(rig: &Rig, id: &str) -> String {
    let r = rig.ok("query.record", json!({"id": id}));
    r["view"]["status"]["status"].as_str().unwrap().to_owned()
}

/// Runs the story; `midway` may close and reopen the engine.
fn story(mut rig: Rig, midway: impl FnOnce(Rig) -> Rig) {
    // 09:00 the desk logs the incident; the engine picks the id.
    let opened = rig.ok(
        "incident.open",
        by(&desk(), open_params("VPN drops every 10 minutes")),
    );
    assert_eq!(opened["number"], "INC0000001");
    assert_eq!(opened["version"], 1);
    assert_eq!(opened["was_duplicate"], false);
    assert_eq!(opened["events"][0]["event_type"], "incident.opened");
    assert!(opened["events"][0]["position"].as_u64().unwrap() >= 1);
    let incident_id = opened["record"]["id"].as_str().unwrap().to_owned();
    assert_eq!(status(&rig, "INC0000001"), "new");

    rig.advance(7);
    rig.ok(
        "incident.assign",
        by(
            &eve(),
            json!({"id": "INC0000001", "group": "network", "assignee": "eve.network"}),
        ),
    );
    let problem = rig.ok(
        "problem.create",
        by(
            &pat(),
            json!({"title": "VPN gateway drops sessions on DPD timeout", "impact": "medium",
                   "urgency": "medium", "service": "remote-access", "cis": ["vpn-gw-02"]}),
        ),
    );
    assert_eq!(problem["number"], "PRB0000001");
    // Numbers wherever a record id goes, nested ones included.
    rig.ok(
        "incident.link_problem",
        by(&eve(), json!({"id": "INC0000001", "problem": "PRB0000001"})),
    );
    rig.ok(
        "incident.put_on_hold",
        by(
            &eve(),
            json!({"id": incident_id, "reason": {"kind": "awaiting_problem", "problem": "PRB0000001"}}),
        ),
    );
    assert_eq!(status(&rig, "INC0000001"), "on_hold");

    rig.advance(60);
    for (method, params) in [
        (
            "problem.assign",
            json!({"group": "network", "assignee": "pat.problems"}),
        ),
        ("problem.assess", json!({})),
        ("problem.start_analysis", json!({})),
        (
            "problem.record_root_cause",
            json!({"cause": "Dead-peer-detection timeout of 10 min on firmware 7.1"}),
        ),
        (
            "problem.mark_known_error",
            json!({"symptom": "VPN session drops every 10 minutes",
                   "root_cause": "DPD timeout on firmware 7.1",
                   "workaround": "Reconnect; use vpn-gw-01", "affected_cis": ["vpn-gw-02"]}),
        ),
        (
            "problem.start_fix",
            json!({"fix_notes": "Upgrade firmware to 7.2"}),
        ),
    ] {
        let mut p = by(&pat(), params);
        p["id"] = json!("PRB0000001");
        rig.ok(method, p);
    }
    let kedb = rig.ok("query.kedb", json!({"text": "vpn"}));
    assert_eq!(kedb["items"].as_array().unwrap().len(), 1);
    assert!(kedb.get("next_cursor").is_none(), "{kedb}");
    let bad = rig.err("query.kedb", json!({"text": "vpn", "cursor": "zz"}));
    assert_eq!(domain_code(&bad), "invalid_input");
    // Full-text syntax in the words is only words; a malformed query names the character.
    for text in [
        "vpn OR anything",
        "NEAR(vpn",
        "vpn*",
        "\"vpn\"",
        "100%",
        "vpn\u{0}",
    ] {
        let found = rig.ok("query.kedb", json!({"text": text}));
        assert!(
            found["items"].as_array().unwrap().len() <= 1,
            "{text}: {found}"
        );
    }
    let bad = rig.err("query.kedb", json!({"text": "vpn \"tunnel"}));
    assert_eq!(domain_code(&bad), "invalid_input");
    assert!(
        bad["message"].as_str().unwrap().contains("character 5"),
        "{bad}"
    );
    let awaiting = rig.ok("query.incidents_awaiting", json!({"problem": "PRB0000001"}));
    assert_eq!(
        awaiting,
        json!([{"id": incident_id, "number": "INC0000001"}])
    );

    // Remember answers as of now.
    rig.advance(1);
    let t1 = rig.now();
    rig.advance(1);
    let record_t1 = rig.ok("query.record", json!({"id": "INC0000001"}));
    let problem_t1 = rig.ok("query.record", json!({"id": "PRB0000001"}));
    let queue_t1 = rig.ok(
        "query.queue",
        json!({"kind": "incident", "open_only": true}),
    );
    let timeline_t1 = rig.ok("query.timeline", json!({"id": "INC0000001"}));
    let head_t1 = rig.head();

    rig = midway(rig);

    rig.advance(30);
    let start = start();
    let window = json!({"start": start + Duration::hours(13), "end": start + Duration::hours(14)});
    let change = rig.ok(
        "change.request",
        by(
            &chris(),
            json!({"title": "Upgrade vpn-gw-02 firmware to 7.2", "change_type": {"kind": "normal"},
                   "risk": "moderate", "cis": ["vpn-gw-02"], "implementation_plan": "Drain, upgrade, undrain",
                   "backout_plan": "Boot the previous image", "assignee": "eve.network"}),
        ),
    );
    assert_eq!(change["number"], "CHG0000001");
    for (method, params) in [
        (
            "change.link_fixes_problem",
            json!({"problem": "PRB0000001"}),
        ),
        ("change.plan", json!({"window": window})),
        ("change.submit", json!({})),
        ("change.request_authorization", json!({})),
    ] {
        let mut p = by(&chris(), params);
        p["id"] = json!("CHG0000001");
        rig.ok(method, p);
    }
    rig.ok(
        "change.approve",
        by(&cora(), json!({"id": "CHG0000001", "comment": "Go"})),
    );
    rig.clock
        .set(start + Duration::hours(13) + Duration::minutes(5));
    rig.ok(
        "change.start_implementation",
        by(&eve(), json!({"id": "CHG0000001"})),
    );
    rig.ok(
        "change.complete_implementation",
        by(&eve(), json!({"id": "CHG0000001"})),
    );
    rig.advance(40);
    let closed = rig.ok(
        "change.close",
        by(
            &chris(),
            json!({"id": "CHG0000001", "code": {"kind": "successful"}, "notes": "No drops in 30 minutes"}),
        ),
    );
    // The fix resolves the problem, and the problem the incident waiting for it.
    assert!(!closed["follow_ups"].as_array().unwrap().is_empty());
    assert_eq!(status(&rig, "PRB0000001"), "resolved");
    assert_eq!(status(&rig, "INC0000001"), "resolved");
    assert_eq!(status(&rig, "CHG0000001"), "closed");

    rig.advance(600);
    rig.ok("incident.close", by(&carol(), json!({"id": "INC0000001"})));
    rig.ok("problem.close", by(&pat(), json!({"id": "PRB0000001"})));
    assert_eq!(status(&rig, "INC0000001"), "closed");

    // KPIs over the day.
    let kpis = rig.ok(
        "query.kpis",
        json!({"query": {"window": {"start": start, "end": start + Duration::days(2)}}}),
    );
    assert!(kpis.is_object(), "{kpis}");
    let text = kpis.to_string();
    assert!(text.contains("mttr") || text.contains("resolve"), "{text}");
    let sla = rig.ok("query.sla", json!({"id": "INC0000001"}));
    assert_eq!(
        sla.as_array().unwrap().len(),
        2,
        "response and resolution: {sla}"
    );
    let explained = rig.ok("query.sla_explain", json!({"id": "INC0000001"}));
    assert_eq!(explained.as_array().unwrap().len(), 2);
    let calendar = rig.ok("query.calendar", json!({}));
    let entries = calendar["items"].as_array().unwrap();
    assert!(calendar.get("next_cursor").is_none(), "{calendar}");
    // Page by page, the same entries.
    let mut paged = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let page = rig.ok("query.calendar", json!({"limit": 1, "cursor": cursor}));
        paged.extend(page["items"].as_array().unwrap().iter().cloned());
        match page.get("next_cursor") {
            Some(next) => cursor = next.clone(),
            None => break,
        }
    }
    assert_eq!(&paged, entries);
    let proposed = serde_json::to_value(&rig.engine.policy().sla).unwrap();
    let what_if = rig.ok(
        "query.sla_what_if",
        json!({"window": {"start": start, "end": start + Duration::days(1)}, "proposed": proposed}),
    );
    assert!(what_if.is_object(), "{what_if}");
    rig.ok("query.open_alerts", json!({}));
    let stats = rig.ok("query.stats", json!({}));
    assert_eq!(stats["head"].as_u64().unwrap(), rig.head());

    // As of t1: the earlier answers, whatever happened since (and across the restart).
    let as_of = json!(t1);
    assert_eq!(
        rig.ok("query.record", json!({"id": "INC0000001", "as_of": as_of})),
        record_t1
    );
    assert_eq!(
        rig.ok("query.record", json!({"id": "PRB0000001", "as_of": as_of})),
        problem_t1
    );
    assert_eq!(
        rig.ok(
            "query.queue",
            json!({"kind": "incident", "open_only": true, "as_of": as_of})
        ),
        queue_t1
    );
    assert_eq!(
        rig.ok(
            "query.timeline",
            json!({"id": "INC0000001", "as_of": as_of})
        ),
        timeline_t1
    );
    assert_eq!(
        rig.ok("query.stats", json!({"as_of": as_of}))["position"]
            .as_u64()
            .unwrap(),
        head_t1
    );
    // The change did not exist then.
    let e = rig.err("query.record", json!({"id": "CHG0000001", "as_of": as_of}));
    assert_eq!(domain_code(&e), "not_found");
    // A version of the record's stream: the state right after its first event.
    let v1 = rig.ok("query.record", json!({"id": "INC0000001", "version": 1}));
    assert_eq!(v1["state"]["status"]["status"], json!("new"), "{v1}");

    // The whole log, page by page.
    let mut after = 0;
    let mut seen = 0;
    loop {
        let page = rig.ok("events.read", json!({"after": after, "max": 7}));
        let events = page["events"].as_array().unwrap();
        if events.is_empty() {
            assert_eq!(page["next"], after);
            break;
        }
        for e in events {
            seen += 1;
            assert_eq!(e["position"].as_u64().unwrap(), after + 1);
            after += 1;
        }
        assert_eq!(page["next"], after);
    }
    assert_eq!(seen, rig.head());
}

#[test]
fn the_story_on_an_in_memory_engine() {
    story(Rig::memory(), |rig| rig);
}

#[test]
fn the_story_on_sled_closed_and_reopened_midway() {
    let dir = tempfile::tempdir().unwrap();
    let rig = Rig::sled(dir.path(), start(), 7);
    let path = dir.path().to_path_buf();
    story(rig, move |rig| {
        let head = rig.head();
        let now = rig.close();
        let rig = Rig::sled(&path, now, 8);
        assert_eq!(rig.head(), head);
        rig
    });
}

#[test]
fn idempotency_keys_replay_through_rpc() {
    let rig = Rig::memory();
    let mut p = by(&desk(), open_params("Printer on fire"));
    p["idempotency_key"] = json!("open-printer-1");
    let first = rig.ok("incident.open", p.clone());
    let head = rig.head();
    let again = rig.ok("incident.open", p.clone());
    assert_eq!(again["was_duplicate"], true);
    assert_eq!(again["record"], first["record"]);
    assert_eq!(again["number"], first["number"]);
    assert_eq!(rig.head(), head, "a replay writes nothing");
    // The same key for another command is refused.
    let mut other = by(&desk(), open_params("Another title"));
    other["idempotency_key"] = json!("open-printer-1");
    let e = rig.err("incident.open", other);
    assert_eq!(domain_code(&e), "idempotency_key_reused");
    assert_eq!(code(&e), -32021);
    assert_eq!(rig.head(), head);
}

#[test]
fn batches_mix_commands_and_queries() {
    let rig = Rig::memory();
    let open = by(&desk(), open_params("Batch one"));
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "incident.open", "params": open},
        {"jsonrpc": "2.0", "id": 2, "method": "query.record", "params": {"id": "INC0000001"}},
        {"jsonrpc": "2.0", "method": "incident.add_work_note",
         "params": by(&desk(), json!({"id": "INC0000001", "text": "a note, as a notification"}))},
        {"jsonrpc": "2.0", "id": 3, "method": "query.timeline", "params": {"id": "INC0000001"}},
        {"jsonrpc": "2.0", "id": 4, "method": "query.record", "params": {"id": "INC0000002"}},
    ]);
    let reply = rig.rpc.handle(&batch.to_string()).unwrap();
    let replies: Vec<Value> = serde_json::from_str(&reply).unwrap();
    assert_eq!(replies.len(), 4, "{reply}");
    assert_eq!(replies[0]["result"]["number"], "INC0000001");
    assert_eq!(replies[1]["result"]["view"]["title"], "Batch one");
    let entries = replies[2]["result"]["entries"].as_array().unwrap();
    assert_eq!(
        entries.last().unwrap()["event_type"],
        "incident.work_note_added"
    );
    assert_eq!(replies[3]["error"]["data"]["domain_code"], "not_found");
    assert_eq!(replies[3]["id"], 4);
}

#[test]
fn events_subscribe_long_polls_until_an_event_arrives() {
    let rig = std::sync::Arc::new(Rig::memory());
    let head = rig.head();
    let poller = {
        let rig = rig.clone();
        std::thread::spawn(move || {
            rig.ok(
                "events.subscribe",
                json!({"after": head, "timeout_ms": 5000}),
            )
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    rig.ok(
        "incident.open",
        by(&desk(), open_params("Wakes the poller")),
    );
    let page = poller.join().unwrap();
    let events = page["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert_eq!(events[0]["position"].as_u64().unwrap(), head + 1);
    // Nothing after the head: an empty page once the timeout passes.
    let head = rig.head();
    let started = std::time::Instant::now();
    let page = rig.ok("events.subscribe", json!({"after": head, "timeout_ms": 50}));
    assert!(page["events"].as_array().unwrap().is_empty());
    assert_eq!(page["next"], head);
    assert!(started.elapsed() >= std::time::Duration::from_millis(40));
}

#[test]
fn long_polls_inside_a_batch_answer_at_once() {
    // Given nothing after the head, when a batch holds twenty 25-second long polls,
    let rig = Rig::memory();
    let head = rig.head();
    let batch: Vec<Value> = (0..20)
        .map(|i| {
            json!({"jsonrpc": "2.0", "id": i, "method": "events.subscribe",
                   "params": {"after": head, "timeout_ms": 25000}})
        })
        .collect();
    let started = std::time::Instant::now();
    let reply = rig.rpc.handle(&Value::Array(batch).to_string()).unwrap();
    // then every entry answers an empty page without waiting (a batch's entries run one after
    // another: waiting in each would hold the thread for 500 s).
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let replies: Vec<Value> = serde_json::from_str(&reply).unwrap();
    assert_eq!(replies.len(), 20);
    for r in &replies {
        assert_eq!(r["result"]["events"], json!([]), "{r}");
        assert_eq!(r["result"]["next"], head);
    }
}

#[test]
fn admin_methods_need_their_engine_permission() {
    let rig = Rig::memory();
    rig.ok("incident.open", by(&desk(), open_params("Tick me")));
    let head = rig.head();
    for (method, permission) in [
        ("admin.tick", "engine_tick"),
        ("admin.verify", "engine_verify"),
        ("admin.rebuild", "engine_rebuild"),
    ] {
        let e = rig.err(method, json!({"actor": desk()}));
        assert_eq!(code(&e), -32005, "{method}: {e}");
        assert_eq!(domain_code(&e), "forbidden");
        assert_eq!(e["data"]["details"]["permission"], permission);
    }
    assert_eq!(rig.head(), head);
    let verify = rig.ok("admin.verify", json!({"actor": root()}));
    assert_eq!(verify["clean"], true);
    let rebuilt = rig.ok("admin.rebuild", json!({"actor": root()}));
    assert_eq!(rebuilt["views_checkpoint"].as_u64().unwrap(), rig.head());
    let tick = rig.ok("admin.tick", json!({"actor": root()}));
    assert!(tick["records_due"].is_u64());
    assert_eq!(
        rig.ok("query.record", json!({"id": "INC0000001"}))["view"]["title"],
        "Tick me"
    );
}

#[test]
fn over_stdio_the_params_name_the_actor() {
    use opsledger_rpc::transport::{StdioOptions, serve_stdio, serve_stdio_with};
    let rig = Rig::memory();
    let open = json!({"jsonrpc": "2.0", "id": 1, "method": "incident.open",
                      "params": by(&desk(), open_params("Over stdio"))});
    let ack = json!({"jsonrpc": "2.0", "id": 2, "method": "incident.acknowledge",
                     "params": {"id": "INC0000001"}});
    let input = format!("{open}\n{ack}\n");
    let mut output = Vec::new();
    serve_stdio(&rig.rpc, input.as_bytes(), &mut output).unwrap();
    let lines: Vec<Value> = String::from_utf8(output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["result"]["events"][0]["actor"], "sam.desk");
    // Without an actor and without a default identity: -32098.
    assert_eq!(lines[1]["error"]["code"], -32098);
    // With a default identity, it acts when the params name nobody.
    let options =
        StdioOptions::with_default_identity(opsledger_rpc::Identity::new("ops", ["agent"]));
    let mut output = Vec::new();
    serve_stdio_with(
        &rig.rpc,
        &options,
        format!("{ack}\n").as_bytes(),
        &mut output,
    )
    .unwrap();
    let reply: Value = serde_json::from_slice(&output).unwrap();
    assert_eq!(reply["result"]["events"][0]["actor"], "ops", "{reply}");
}

#[test]
fn admin_tick_takes_an_instant_and_records_breaches_once() {
    let rig = Rig::memory();
    rig.ok("incident.open", by(&desk(), open_params("Nobody answers")));
    rig.advance(24 * 60);
    let now = rig.now();
    let first = rig.ok("admin.tick", json!({"now": now, "actor": root()}));
    let again = rig.ok("admin.tick", json!({"now": now, "actor": root()}));
    assert!(first["breaches_recorded"].as_u64().unwrap() >= 1, "{first}");
    assert_eq!(again["breaches_recorded"], 0, "{again}");
    let sla = rig.ok("query.sla", json!({"id": "INC0000001"}));
    assert!(sla.to_string().contains("breach"), "{sla}");
}

#[test]
fn queues_and_timelines_page_with_cursors() {
    let rig = Rig::memory();
    let mut ids = Vec::new();
    for i in 0..5 {
        let o = rig.ok(
            "incident.open",
            by(&desk(), open_params(&format!("Queue item {i}"))),
        );
        ids.push(o["record"]["id"].as_str().unwrap().to_owned());
        rig.advance(1);
    }
    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let mut params = json!({"kind": "incident", "limit": 2});
        if !cursor.is_null() {
            params["cursor"] = cursor.clone();
        }
        let page = rig.ok("query.queue", params);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|v| v["record"]["id"].as_str().unwrap().to_owned()),
        );
        match page.get("next_cursor") {
            Some(c) => cursor = c.clone(),
            None => break,
        }
    }
    seen.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(seen, expected);

    // A record by UUID, with and without its kind; the wrong kind finds nothing.
    let by_uuid = rig.ok("query.record", json!({"id": ids[2]}));
    assert_eq!(by_uuid["number"], "INC0000003");
    assert_eq!(
        rig.ok("query.record", json!({"id": ids[2], "kind": "incident"})),
        by_uuid
    );
    let e = rig.err("query.record", json!({"id": ids[2], "kind": "change"}));
    assert_eq!(domain_code(&e), "not_found");

    // A timeline in pages of two.
    for text in ["one", "two", "three"] {
        rig.ok(
            "incident.add_work_note",
            by(&desk(), json!({"id": "INC0000001", "text": text})),
        );
    }
    let mut versions = Vec::new();
    let mut from = json!(1);
    loop {
        let page = rig.ok(
            "query.timeline",
            json!({"id": "INC0000001", "from_version": from, "limit": 2}),
        );
        versions.extend(
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["version"].as_u64().unwrap()),
        );
        match page.get("next_version") {
            Some(v) => from = v.clone(),
            None => break,
        }
    }
    assert_eq!(versions, vec![1, 2, 3, 4]);
}

#[test]
fn a_policy_can_grant_an_engine_permission_to_a_role() {
    use opsledger::core::{Permission, Role};
    // Given a policy granting the tick to managers (and nothing else of the admin methods),
    let rig = Rig::memory();
    let mut policy = (*rig.engine.policy()).clone();
    policy.authorization.grants.insert(
        Permission::EngineTick,
        [Role::Manager].into_iter().collect(),
    );
    rig.engine
        .publish_policy(
            &opsledger::Actor::new("ada", [Role::Admin]),
            policy,
            opsledger::PublishPolicy::default(),
        )
        .expect("published");
    let manager = actor("mia", &["manager"]);
    // then a manager may tick, and still may not rebuild.
    rig.ok("admin.tick", json!({"actor": manager}));
    let e = rig.err("admin.rebuild", json!({"actor": manager}));
    assert_eq!(e["data"]["details"]["permission"], "engine_rebuild");
}
