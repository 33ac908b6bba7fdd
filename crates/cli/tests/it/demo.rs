//! `brickwire demo` end to end: the binary starts the emulator and the service, links one
//! account by API key and one by OAuth, tours both through the service's REST API, prints the
//! summary and exits 0 on its own.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Far above the demo's usual run time; only a hang reaches it.
const DEADLINE: Duration = Duration::from_secs(240);

/// Every step of the tour, as the summary names it; each runs once per account.
const TOUR: &[&str] = &[
    "start a SQL warehouse (create, wait until RUNNING)",
    "create a catalog, a schema and a table with SQL",
    "query it",
    "fetch a large result chunk by chunk",
    "import a notebook",
    "create a job that runs it, run it and wait",
    "export the notebook",
    "stop the warehouse and wait until STOPPED",
];

fn run_demo(env: &[(&str, &str)]) -> (std::process::ExitStatus, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_brickwire"))
        .arg("demo")
        .envs(env.iter().copied())
        .env_remove("BRICKWIRE_API_KEY")
        .env_remove("BRICKWIRE_MASTER_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the demo starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            child.kill().unwrap();
            panic!("the demo did not end within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status, out.join().unwrap(), err.join().unwrap())
}

#[test]
fn the_demo_links_two_accounts_tours_both_and_exits_0() {
    let (status, stdout, stderr) = run_demo(&[]);
    assert!(status.success(), "exit {status}\n{stdout}\n{stderr}");
    assert!(!stdout.contains('✗'), "{stdout}");

    let summary = &stdout[stdout.find("\nSummary\n").expect("a summary") + 1..];
    let sections: Vec<&str> = summary
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .map(str::trim)
        .collect();
    assert_eq!(sections.len(), 5, "{summary}");
    assert_eq!(sections[0], "Setup");
    assert!(sections[1].starts_with("API key account "), "{summary}");
    assert!(sections[2].starts_with("OAuth account "), "{summary}");
    assert!(
        sections[3].starts_with("Incremental Sync on account "),
        "{summary}"
    );
    assert!(sections[4].starts_with("A flow on account "), "{summary}");

    // Setup: each account acts as its own workspace user.
    for line in [
        "start the Databricks emulator",
        "start the brickwire service",
        "register an OAuth app connection in the workspace",
        "store the service's app settings",
        "add a workspace user to sign in as",
    ] {
        assert!(summary.contains(&format!("✓ {line}")), "{line}\n{summary}");
    }
    let linked = |title: &str| {
        summary
            .lines()
            .find(|l| l.contains(title))
            .unwrap_or_else(|| panic!("no {title:?} in\n{summary}"))
            .to_owned()
    };
    assert!(linked("link an account by API key").ends_with("acts as admin@brickwire.local"));
    assert!(linked("link an account by OAuth").ends_with("acts as data.engineer@example.com"));

    // The tour ran every step on both accounts, with the same results.
    for step in TOUR {
        let count = summary
            .lines()
            .filter(|l| l.trim_start().starts_with(&format!("✓ {step} ")))
            .count();
        assert_eq!(count, 2, "{step}\n{summary}");
    }
    for outcome in [
        "acme=162.75, globex=80.0",
        "250000 rows in ",
        "TERMINATED / SUCCESS",
        "first line \"# Databricks notebook source\"",
    ] {
        assert_eq!(summary.matches(outcome).count(), 2, "{outcome}\n{summary}");
    }
    assert!(summary.contains("demo_api_key.sales.orders (id INT, customer STRING, amount DOUBLE)"));
    assert!(summary.contains("demo_oauth.sales.orders (id INT, customer STRING, amount DOUBLE)"));
    assert_eq!(summary.matches(" is STOPPED").count(), 2, "{summary}");

    // Incremental Sync: the two finished runs arrive once each; a second poll adds nothing.
    assert!(
        linked("poll now and pull the new events")
            .ends_with("2 events: run 1001 SUCCESS, run 1003 SUCCESS"),
        "{summary}"
    );
    assert!(
        linked("nothing is delivered twice").ends_with("0 new events"),
        "{summary}"
    );

    // The flow ran once per finished job run and wrote one row for each.
    assert!(
        linked("the service runs the flow once per finished job run").ends_with("2 runs succeeded"),
        "{summary}"
    );
    assert!(
        linked("query the table the flow wrote")
            .ends_with("2 rows, one per job run: 1001=SUCCESS, 1003=SUCCESS"),
        "{summary}"
    );
    assert_eq!(
        stdout.matches(" succeeded for job run ").count(),
        2,
        "each run is printed with its steps\n{stdout}"
    );

    // The personal access token the API-key account was linked with is never printed.
    assert!(!stdout.contains(brickwire_emulator::DEFAULT_TOKEN));
}

#[test]
fn a_failed_step_exits_1_and_names_the_step() {
    // An HTTP proxy that refuses connections: the servers start (no HTTP involved), then the
    // first request the demo sends fails.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", proxy.local_addr().unwrap());
    drop(proxy);
    let (status, stdout, stderr) = run_demo(&[
        ("HTTP_PROXY", &url),
        ("http_proxy", &url),
        ("NO_PROXY", ""),
        ("no_proxy", ""),
    ]);
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("✓ start the brickwire service"), "{stdout}");
    assert!(
        stdout.contains("✗ register an OAuth app connection in the workspace: "),
        "{stdout}"
    );
    assert!(!stdout.contains("Summary"), "{stdout}");
    assert!(
        stderr.contains(
            "error: the demo failed: step \"register an OAuth app connection in the workspace\" (Setup) failed: "
        ),
        "{stderr}"
    );
}
