//! Newline-delimited JSON over in-memory pipes.

use crate::common::{check_reply, dispatcher, dispatcher_with, parse};
use opsledger_rpc::testing::{SPEC_EXAMPLES, check_response};
use opsledger_rpc::transport::{StdioOptions, serve_stdio, serve_stdio_with};
use opsledger_rpc::{Identity, Limits, codes};
use serde_json::{Value, json};
use std::io::{BufReader, Cursor, Read};

fn run(input: &[u8]) -> (u64, Vec<String>) {
    let mut out = Vec::new();
    let n = serve_stdio(&dispatcher(), Cursor::new(input.to_vec()), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'));
    (n, text.lines().map(str::to_owned).collect())
}

#[test]
fn the_specification_examples_over_stdio() {
    let input: String = SPEC_EXAMPLES
        .iter()
        .map(|e| format!("{}\n", e.request))
        .collect();
    let (handled, lines) = run(input.as_bytes());
    assert_eq!(handled, SPEC_EXAMPLES.len() as u64);
    let expected: Vec<&str> = SPEC_EXAMPLES.iter().filter_map(|e| e.response).collect();
    assert_eq!(lines.len(), expected.len(), "{lines:#?}");
    for (line, expected) in lines.iter().zip(expected) {
        check_reply(line).unwrap();
        check_response(Some(expected), Some(line)).unwrap();
    }
}

#[test]
fn framing_blank_lines_crlf_and_a_last_line_without_newline() {
    let input =
        b"\n  \r\n{\"jsonrpc\":\"2.0\",\"method\":\"subtract\",\"params\":[3,1],\"id\":1}\r\n\
{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"params\":[1]}\n\
{\"jsonrpc\":\"2.0\",\"method\":\"subtract\",\"params\":[5,1],\"id\":2}";
    let (handled, lines) = run(input);
    assert_eq!(handled, 3);
    assert_eq!(
        lines,
        vec![
            r#"{"jsonrpc":"2.0","result":2,"id":1}"#,
            r#"{"jsonrpc":"2.0","result":4,"id":2}"#
        ]
    );
}

#[test]
fn bad_lines_are_answered_and_the_loop_goes_on() {
    let mut input = Vec::new();
    input.extend_from_slice(b"not json\n");
    input.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":\"\xff\xfe\",\"id\":1}\n");
    input.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":\"panic\",\"id\":2}\n");
    input.extend_from_slice(b"[]\n");
    input.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":\"get_data\",\"id\":3}\n");
    let (_, lines) = run(&input);
    let codes: Vec<Value> = lines
        .iter()
        .map(|l| parse(l)["error"]["code"].clone())
        .collect();
    assert_eq!(
        codes,
        vec![
            json!(codes::PARSE_ERROR),
            json!(codes::PARSE_ERROR),
            json!(codes::INTERNAL_ERROR),
            json!(codes::INVALID_REQUEST),
            Value::Null
        ]
    );
    assert_eq!(parse(&lines[4])["result"], json!(["hello", 5]));
}

#[test]
fn an_over_long_line_is_answered_once_and_skipped_without_buffering_it() {
    let d = dispatcher_with(Limits {
        max_request_bytes: 1000,
        ..Limits::default()
    });
    let mut input = Vec::new();
    input.extend_from_slice(br#"{"jsonrpc":"2.0","method":"echo","params":[""#);
    input.extend(std::iter::repeat_n(b'x', 5_000_000));
    input.extend_from_slice(b"\"],\"id\":1}\n");
    input.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":\"get_data\",\"id\":2}\n");

    /// A reader that hands out small chunks, as a pipe would.
    struct Trickle(Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(4096);
            self.0.read(&mut buf[..n])
        }
    }
    let mut out = Vec::new();
    let handled = serve_stdio(&d, BufReader::new(Trickle(Cursor::new(input))), &mut out).unwrap();
    assert_eq!(handled, 2);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let first = parse(lines[0]);
    assert_eq!(first["error"]["code"], codes::LIMIT_EXCEEDED);
    assert_eq!(
        first["error"]["data"],
        json!({"limit": "max_request_bytes", "max": 1000})
    );
    assert_eq!(first["id"], Value::Null);
    assert_eq!(parse(lines[1])["id"], 2);
}

#[test]
fn a_default_identity_and_params_named_actors_over_stdio() {
    let options = StdioOptions::with_default_identity(Identity::new("ops-bot", ["agent"]));
    let input = concat!(
        r#"{"jsonrpc":"2.0","method":"whoami","id":1}"#,
        "\n",
        r#"{"jsonrpc":"2.0","method":"whoami","params":{"actor":{"actor":"carol","roles":["cab"]}},"id":2}"#,
        "\n"
    );
    let mut out = Vec::new();
    serve_stdio_with(&dispatcher(), &options, Cursor::new(input), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<Value> = text.lines().map(parse).collect();
    assert_eq!(lines[0]["result"]["actor"], "ops-bot");
    assert_eq!(lines[1]["result"]["actor"], "carol");
}

#[test]
fn empty_input_writes_nothing() {
    assert_eq!(run(b""), (0, vec![]));
    assert_eq!(run(b"\n\n \n"), (0, vec![]));
}
