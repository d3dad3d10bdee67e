//! HAProxy, AWS ALB and JSON-lines logs, end to end: detected by `--input
//! auto` or named, from files, gzip files and standard input.

use std::io::Write;

use crate::util::{Dir, Output, check_failure};

const HAPROXY: &str = r#"Dec  9 12:00:03 lb1 haproxy[12345]: 127.0.0.1:38037 [09/Dec/2013:12:00:03.206] fe be/srv1 0/0/0/1/1 200 128 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"
Dec  9 12:00:03 lb1 haproxy[12345]: 127.0.0.1:38038 [09/Dec/2013:12:00:03.306] fe be/srv1 0/0/0/1/1 200 128 - - ---- 1/1/0/0/0 0/0 "GET /a HTTP/1.1"
Dec  9 12:00:03 lb1 haproxy[12345]: 127.0.0.1:38039 [09/Dec/2013:12:00:03.406] fe be/srv1 0/0/0/1/1 200 128 - - ---- 1/1/0/0/0 0/0 "GET /b[1] HTTP/1.1"
Dec  9 12:00:04 lb1 haproxy[12345]: 10.0.1.2:33313 [09/Dec/2013:12:00:04.206] fnt bck/srv1 0/0/5007 212 -- 0/0/0/0/3 0/0
Dec  9 12:00:04 lb1 haproxy[12345]: ::ffff:127.0.0.1:38040 [09/Dec/2013:12:00:04.207] fe be/srv1 0/0/0/1/1 200 128 - - ---- 1/1/0/0/0 0/0 "GET /c HTTP/1.1"
Dec  9 12:00:04 lb1 haproxy[12345]: 2001:db8::1:443 [09/Dec/2013:12:00:04.500] fe~ be/<NOSRV> -1/-1/-1/-1/+0 503 0 - - SC-- 0/0/0/0/0 0/0 "GET / HTTP/1.1"
"#;

/// What HAPROXY decides with capacity 2 and rate 1: 127.0.0.1 has 0.2
/// tokens at 03.406, and 1.001 at 04.207.
const HAPROXY_DECISIONS: &str = "\
line,timestamp,ip,cost,allowed
1,09/Dec/2013:12:00:03.206,127.0.0.1,1,true
2,09/Dec/2013:12:00:03.306,127.0.0.1,1,true
3,09/Dec/2013:12:00:03.406,127.0.0.1,1,false
4,09/Dec/2013:12:00:04.206,10.0.1.2,1,true
5,09/Dec/2013:12:00:04.207,::ffff:127.0.0.1,1,true
6,09/Dec/2013:12:00:04.500,2001:db8::1,1,true
";

const ALB: &str = r#"http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90
https 2018-07-02T22:23:00.186642Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2818 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" "Mozilla/5.0 (Windows NT 10.0; \"x\")" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 2018-07-02T22:22:48.364001Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef91
h2 2018-07-02T22:23:00.186643Z app/my-loadbalancer/50dc6c495c0c9188 2001:db8::9:443 10.0.0.1:80 0.001 0.002 0.003 200 200 5 7 "GET https://www.example.com:443/ HTTP/2.0" "curl/8.4.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337281-1d84f3d73c47ec4e58577260" "www.example.com" "-" 1 2018-07-02T22:22:48.5Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef92
"#;

const CADDY: &str = r#"{"level":"info","ts":1700000000.123456789,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"203.0.113.9","remote_port":"51234","client_ip":"203.0.113.9","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/","headers":{"User-Agent":["curl/8.4.0"]}},"duration":0.000412,"size":612,"status":200}
{"level":"info","ts":1700000000.5,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"2001:db8::7","remote_port":"51235","proto":"HTTP/1.1","method":"GET","host":"example.com","uri":"/a?q=\"x\"","headers":{}},"duration":0.1,"size":0,"status":404}
{"level":"info","ts":1700000001,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"203.0.113.9","remote_port":"51236","proto":"HTTP/1.1","method":"POST","host":"example.com","uri":"/login","headers":{}},"duration":0.01,"size":31,"status":401}
"#;

const TRAEFIK: &str = r#"{"ClientAddr":"[2001:db8::7]:40000","ClientHost":"2001:db8::7","ClientPort":"40000","DownstreamStatus":200,"RequestMethod":"GET","RequestPath":"/","StartLocal":"2023-11-14T23:13:20.000000001+01:00","StartUTC":"2023-11-14T22:13:20.000000001Z","level":"info","msg":"","time":"2023-11-14T22:13:21Z"}
{"ClientAddr":"192.0.2.1:40001","ClientHost":"192.0.2.1","ClientPort":"40001","DownstreamStatus":200,"RequestMethod":"GET","RequestPath":"/","StartLocal":"2023-11-14T23:13:20.5+01:00","StartUTC":"2023-11-14T22:13:20.5Z","level":"info","msg":"","time":"2023-11-14T22:13:21Z"}
"#;

const NGINX_JSON: &str = r#"{"time_local":"14/Nov/2023:22:13:20 +0000","remote_addr":"192.0.2.1","request":"GET / HTTP/1.1","status":"200","body_bytes_sent":"612","http_user_agent":"curl/8.4.0"}
{"time_local":"14/Nov/2023:23:13:21 +0100","remote_addr":"192.0.2.1","request":"GET /a HTTP/1.1","status":"200","body_bytes_sent":"612","http_user_agent":"curl/8.4.0"}
"#;

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

/// The JSON summary on standard error of a successful `--decisions -` run.
#[track_caller]
fn summary(out: &Output) -> serde_json::Value {
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    serde_json::from_str(&out.stderr).expect("a JSON summary")
}

const DECIDE: [&str; 6] = ["--decisions", "-", "--output", "json", "--capacity", "2"];

#[test]
fn haproxy_logs_are_detected_and_replayed_by_client_address() {
    let dir = Dir::new();
    dir.file("haproxy.log", HAPROXY);
    for input in ["auto", "haproxy"] {
        let out = dir.run(
            &[&["replay", "haproxy.log", "--rate", "1", "--input", input], &DECIDE[..]].concat(),
        );
        assert_eq!(out.stdout, HAPROXY_DECISIONS, "--input {input}");
        let summary = summary(&out);
        assert_eq!(summary["first"], "2013-12-09T12:00:03.206Z");
        assert_eq!(summary["last"], "2013-12-09T12:00:04.5Z");
        assert_eq!(summary["distinct_keys"], 3, "::ffff:127.0.0.1 is 127.0.0.1");
    }
}

#[test]
fn haproxy_accept_dates_take_the_utc_offset_and_stdin_and_gzip_work() {
    let dir = Dir::new();
    dir.file("haproxy.log.gz", gzip(HAPROXY));
    let args = ["replay", "-", "haproxy.log.gz", "--utc-offset", "-05:00", "--rate", "1"];
    let out = dir.run_with_stdin(&[&args[..], &DECIDE[..]].concat(), HAPROXY.as_bytes());
    let summary = summary(&out);
    assert_eq!(summary["first"], "2013-12-09T17:00:03.206Z");
    assert_eq!(summary["records"], 12);
    // Both copies of 127.0.0.1's requests in one stream: the second copy's
    // first request comes earlier than the first copy's last one.
    assert_eq!(summary["out_of_order"], 3);
    let rows: Vec<&str> = out.stdout.lines().skip(1).collect();
    assert_eq!(rows[0], "1,09/Dec/2013:12:00:03.206,127.0.0.1,1,true,<stdin>");
    assert_eq!(rows[6], "1,09/Dec/2013:12:00:03.206,127.0.0.1,1,false,haproxy.log.gz");
}

#[test]
fn alb_logs_replay_gzipped_as_shipped() {
    let dir = Dir::new();
    dir.file("123456789012_elasticloadbalancing_us-east-2_app.log.gz", gzip(ALB));
    for input in ["auto", "alb"] {
        let out = dir.run(&[
            "replay",
            "123456789012_elasticloadbalancing_us-east-2_app.log.gz",
            "--input",
            input,
            "--capacity",
            "1",
            "--rate",
            "1",
            "--decisions",
            "-",
            "--output",
            "json",
        ]);
        assert_eq!(
            out.stdout,
            "\
line,timestamp,ip,cost,allowed
1,2018-07-02T22:22:48.364000Z,192.168.131.39,1,true
2,2018-07-02T22:22:48.364001Z,192.168.131.39,1,false
3,2018-07-02T22:22:48.5Z,2001:db8::9,1,true
",
            "--input {input}"
        );
        let summary = summary(&out);
        assert_eq!(summary["first"], "2018-07-02T22:22:48.364Z");
        assert_eq!(summary["last"], "2018-07-02T22:22:48.5Z");
    }
}

#[test]
fn json_lines_of_known_servers_are_read_exactly() {
    let dir = Dir::new();
    for (name, log, first, last, keys) in [
        ("caddy.log", CADDY, "2023-11-14T22:13:20.123456789Z", "2023-11-14T22:13:21Z", 2),
        ("traefik.json", TRAEFIK, "2023-11-14T22:13:20.000000001Z", "2023-11-14T22:13:20.5Z", 2),
        ("nginx.json", NGINX_JSON, "2023-11-14T22:13:20Z", "2023-11-14T22:13:21Z", 1),
    ] {
        dir.file(name, log);
        let out = dir.run(&["replay", name, "--output", "json"]);
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        let summary: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            (&summary["first"], &summary["last"], &summary["distinct_keys"]),
            (&first.into(), &last.into(), &keys.into()),
            "{name}"
        );
    }
    let out = dir.run_with_stdin(
        &["replay", "-", "--input", "jsonl", "--capacity", "1", "--decisions", "-"],
        CADDY.as_bytes(),
    );
    assert_eq!(
        out.stdout,
        "\
line,timestamp,ip,cost,allowed
1,1700000000.123456789,203.0.113.9,1,true
2,1700000000.5,2001:db8::7,1,true
3,1700000001,203.0.113.9,1,true
"
    );
}

#[test]
fn json_fields_can_be_named_with_dotted_paths() {
    let dir = Dir::new();
    dir.file(
        "app.jsonl",
        "{\"at\":{\"unix\":\"1700000000.000000001\"},\"peer\":{\"addr\":\"[2001:db8::1]:443\"}}\n\
         {\"at\":{\"unix\":1700000000.000000002},\"peer\":{\"addr\":\"2001:db8::1\"}}\n",
    );
    let out = dir.run(&[
        "replay",
        "app.jsonl",
        "--ts-field",
        "at.unix",
        "--ip-field",
        "peer.addr",
        "--capacity",
        "1",
        "--decisions",
        "-",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "line,timestamp,ip,cost,allowed\n1,1700000000.000000001,2001:db8::1,1,true\n2,1700000000.000000002,2001:db8::1,1,false\n"
    );
    assert!(out.stderr.contains("first            2023-11-14T22:13:20.000000001Z\n"));
    let out = dir.run(&["replay", "app.jsonl", "--ts-field", "at.unix"]);
    check_failure(
        &out,
        1,
        "limiter-cli: app.jsonl:1: record \"{\\\"at\\\":{\\\"unix\\\":\\\"1700000000.000000001\\\"},\\\"peer\\\":{\\\"addr\\\":\\\"[2001:db8:…\": \
         no client address field: expected one of request.remote_ip, request.client_ip, ClientHost, remote_addr, \
         downstream_remote_address, client_ip, remote_ip, or name it with --ip-field\n",
    );
    let out = dir.run(&["replay", "app.jsonl", "--ts-field", "at.unix", "--ip-field", "peer.ip"]);
    check_failure(
        &out,
        1,
        "limiter-cli: app.jsonl:1: record \"{\\\"at\\\":{\\\"unix\\\":\\\"1700000000.000000001\\\"},\\\"peer\\\":{\\\"addr\\\":\\\"[2001:db8:…\": no field \"peer.ip\"\n",
    );
}

#[test]
fn host_names_in_logs_point_to_key_any() {
    let dir = Dir::new();
    let log = HAPROXY.replace("10.0.1.2:33313", "lb.internal:33313");
    dir.file("haproxy.log", &log);
    let out = dir.run(&["replay", "haproxy.log"]);
    check_failure(
        &out,
        1,
        "limiter-cli: haproxy.log:4: client \"lb.internal\": not an IP address (host names are not addresses; --key any replays them by name)\n",
    );
    let out = dir.run(&["replay", "haproxy.log", "--key", "any", "--output", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let summary: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(summary["distinct_keys"], 4, "::ffff:127.0.0.1 is its own opaque key");
}

#[test]
fn a_line_in_another_format_names_the_input_flag() {
    let dir = Dir::new();
    let mixed = format!("1386590403,127.0.0.1\n{HAPROXY}");
    dir.file("mixed.log", &mixed);
    let out = dir.run(&["replay", "mixed.log"]);
    let line = HAPROXY.lines().next().unwrap();
    let shown: String = line.chars().take(64).collect();
    check_failure(
        &out,
        1,
        &format!(
            "limiter-cli: mixed.log:2: record {:?}: expected 2 or 3 comma-separated fields (timestamp,ip[,cost]), found 1 \
             (this line reads as an HAProxy log, but --input auto chose a CSV trace from line 1; --input haproxy reads it)\n",
            format!("{shown}…")
        ),
    );
    dir.file("unknown.log", "2013-12-09 12:00:03 127.0.0.1 GET /\n");
    let out = dir.run(&["replay", "unknown.log"]);
    check_failure(
        &out,
        1,
        "limiter-cli: unknown.log:1: record \"2013-12-09 12:00:03 127.0.0.1 GET /\": expected 2 or 3 comma-separated fields (timestamp,ip[,cost]), found 1 \
         (--input auto chose a CSV trace from this line; --input names the format: csv, combined, haproxy, alb or jsonl)\n",
    );
}

#[test]
fn malformed_log_lines_are_skipped_and_counted_on_request() {
    let dir = Dir::new();
    let log = format!("{HAPROXY}Dec  9 12:00:05 lb1 haproxy[12345]: Server be/srv1 is DOWN.\n");
    dir.file("haproxy.log", &log);
    let out = dir.run(&["replay", "haproxy.log", "--skip-invalid", "--output", "json"]);
    assert_eq!(
        out.stderr,
        "limiter-cli: warning: skipped haproxy.log:7: record \"Dec  9 12:00:05 lb1 haproxy[12345]: Server be/srv1 is DOWN.\": \
         not an HAProxy HTTP or TCP log line (client:port [accept date] frontend backend/server timers ...)\n"
    );
    let summary: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!((&summary["records"], &summary["skipped"]), (&6.into(), &1.into()));
}

/// Thousands of lines, so that each buffer's second half is parsed by the
/// helper thread, with malformed lines in both halves: every record and
/// every error comes out in line order, as from one thread.
#[test]
fn long_logs_keep_line_order_in_records_and_errors() {
    let entry = ALB.lines().next().unwrap();
    let (good_time, good_client) = ("2018-07-02T22:22:48.364000Z", "192.168.131.39:2817");
    let mut log = String::new();
    let mut rows = String::from("line,timestamp,ip,cost,allowed\n");
    let mut bad = Vec::new();
    for n in 1..=4000u32 {
        if n % 97 == 0 {
            log.push_str("http x\n");
            bad.push((n, "record \"http x\""));
        } else if n % 131 == 0 {
            log.push_str(&entry.replace(good_client, "lb.internal:2817"));
            log.push('\n');
            bad.push((n, "client \"lb.internal\""));
        } else {
            let time = format!("2018-07-02T22:{:02}:{:02}.{n:06}Z", n / 60 % 60, n % 60);
            let client = format!("10.{}.{}.{}", n / 65536, n / 256 % 256, n % 256);
            let line = entry.replace(good_time, &time).replace(good_client, &format!("{client}:1"));
            log.push_str(&line);
            log.push('\n');
            rows.push_str(&format!("{n},{time},{client},1,true\n"));
        }
    }
    assert!(log.len() > 1 << 20, "more than one buffer");
    let dir = Dir::new();
    dir.file("alb.log", &log);
    let args = ["replay", "alb.log", "--skip-invalid", "--capacity", "5", "--rate", "1"];
    let out = dir.run(&[&args[..], &["--decisions", "out.csv", "--output", "json"]].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(dir.read("out.csv"), rows);
    let summary: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let records = 4000 - bad.len() as u64;
    assert_eq!((&summary["records"], &summary["skipped"]), (&records.into(), &bad.len().into()));
    let warnings: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(warnings.len(), 6, "{}", out.stderr);
    for ((n, what), warning) in bad.iter().take(5).zip(&warnings) {
        let start = format!("limiter-cli: warning: skipped alb.log:{n}: {what}");
        assert!(warning.starts_with(&start), "{warning:?} for line {n}");
    }
    let more = bad.len() - 5;
    assert_eq!(
        warnings[5],
        format!(
            "limiter-cli: warning: skipped {more} more malformed records, {} in all",
            bad.len()
        )
    );

    // Opaque keys keep their text through the helper too, and a malformed
    // line stops the replay at its own line.
    let opaque = dir.run(&[&args[..], &["--key", "any", "--decisions", "any.csv"]].concat());
    assert_eq!(opaque.code, 0, "{}", opaque.stderr);
    let any_rows = dir.read("any.csv");
    let hosts = bad.iter().filter(|(_, what)| what.starts_with("client")).count();
    assert_eq!(any_rows.lines().count(), rows.lines().count() + hosts);
    let host_row = "\n131,2018-07-02T22:22:48.364000Z,lb.internal,1,true\n";
    assert!(any_rows.contains(host_row), "host names are keys under --key any");
    let without_hosts: String = any_rows
        .lines()
        .filter(|row| !row.contains("lb.internal"))
        .map(|row| format!("{row}\n"))
        .collect();
    assert_eq!(without_hosts, rows);
    let strict = dir.run(&["replay", "alb.log", "--capacity", "5", "--rate", "1"]);
    assert_eq!(strict.code, 1);
    assert!(strict.stderr.contains("alb.log:97: record \"http x\""), "{}", strict.stderr);
}
