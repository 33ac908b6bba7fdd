//! Validation of definitions: every problem is reported with the path of what is wrong and
//! what was expected, and a valid definition passes untouched.

use brickwire_connector::Catalog;
use brickwire_flows::definition::Format;
use brickwire_flows::{FlowDefinition, FlowError, ValidationError, validate};

fn problems(yaml: &str) -> Vec<ValidationError> {
    let definition = match FlowDefinition::parse(yaml, Format::Yaml) {
        Ok(d) => d,
        Err(FlowError::Invalid(errors)) => return errors,
        Err(e) => panic!("{e}"),
    };
    match validate(definition, Catalog::global()) {
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    }
}

/// Asserts a problem at `path` whose message contains every one of `words`.
fn has(problems: &[ValidationError], path: &str, words: &[&str]) {
    assert!(
        problems
            .iter()
            .any(|p| p.path == path && words.iter().all(|w| p.message.contains(w))),
        "no problem at {path} with {words:?} in {problems:#?}"
    );
}

#[test]
fn a_valid_flow_has_no_problems() {
    let yaml = r#"
name: job failed -> rerun once, then notify
account: prod
trigger: {type: sync, source: {type: job_runs}}
steps:
  - id: failed
    if: "{% $event.data.state.result_state = 'FAILED' %}"
    then:
      - id: rerun
        action: run-job
        input: {job_id: "{% $event.data.job_id %}"}
        retry: {max_attempts: 5}
      - id: finished
        wait:
          action: get-job-run
          input: {run_id: "{% $steps.rerun.run_id %}"}
          until: "{% $poll.state.life_cycle_state = 'TERMINATED' %}"
      - id: tell
        action: http-request
        input: {method: POST, path: /api/2.0/jobs/runs/get, query: {run_id: "{% $string($steps.rerun.run_id) %}"}}
        on_error: continue
  - id: each
    for_each: "{% $event.data.tasks %}"
    concurrency: 4
    steps:
      - id: look
        action: get-job-run
        input: {run_id: "{% $item.run_id %}"}
  - id: summary
    switch: "{% $count($steps.each) %}"
    cases:
      - value: 0
        steps: [{id: none, fail: {message: no tasks, code: NO_TASKS}}]
    default: [{id: pause, wait: {seconds: 5}}]
"#;
    assert_eq!(problems(yaml), Vec::new());
}

#[test]
fn shape_errors_name_the_path() {
    let yaml = r#"
name: x
trigger: {type: manual}
steps:
  - id: a
    action: list-users
    retry: {max_attempts: "three"}
"#;
    let p = problems(yaml);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].path, "steps[0].retry.max_attempts");

    let p = problems("name: x\ntrigger: {type: hourly}\nsteps: []\n");
    assert_eq!(p[0].path, "trigger.type");
    assert!(p[0].message.contains("hourly"), "{p:?}");

    let p = problems("name: x\ntrigger: {type: manual}\nsteps: [{id: a, acton: list-users}]\n");
    assert_eq!(p[0].path, "steps[0].acton");
    assert!(p[0].message.contains("acton"), "{p:?}");
}

#[test]
fn unknown_actions_and_static_inputs_that_fail_the_schema() {
    let yaml = r#"
name: x
trigger: {type: manual}
steps:
  - {id: a, action: run-jbo, input: {job_id: 1}}
  - {id: b, action: show-job, input: {job_id: "abc"}}
  - {id: c, action: show-job, input: {}}
  - {id: d, action: show-job, input: {job_id: 1, color: red}}
  - {id: e, action: show-job, input: {job_id: "{% $event.id %}"}}
"#;
    let p = problems(yaml);
    has(
        &p,
        "steps[0].action",
        &["unknown action id `run-jbo`", "did you mean `run-job`"],
    );
    has(&p, "steps[1].input.job_id", &["show-job"]);
    has(&p, "steps[2].input.job_id", &["required", "missing"]);
    has(&p, "steps[3].input", &["color"]);
    assert!(
        !p.iter().any(|e| e.path.starts_with("steps[4]")),
        "an expression is checked when it runs: {p:?}"
    );
}

#[test]
fn references_to_missing_later_and_loop_inner_steps() {
    let yaml = r#"
name: x
trigger: {type: manual}
steps:
  - id: first
    action: show-job
    input: {job_id: "{% $steps.second.job_id %}"}
  - id: second
    action: show-job
    input: {job_id: "{% $steps.second.job_id + $steps.nope %}"}
  - id: each
    for_each: [1, 2]
    steps:
      - {id: inner, action: show-job, input: {job_id: "{% $item %}"}}
  - id: after
    action: show-job
    input: {job_id: "{% $steps.inner.job_id %}"}
  - id: loose
    action: show-job
    input: {job_id: "{% $item %}"}
"#;
    let p = problems(yaml);
    has(
        &p,
        "steps[0].input.job_id",
        &["$steps.second", "does not come earlier"],
    );
    has(
        &p,
        "steps[1].input.job_id",
        &["$steps.second", "itself", "cycle"],
    );
    has(
        &p,
        "steps[1].input.job_id",
        &["$steps.nope", "refers to no step"],
    );
    has(
        &p,
        "steps[3].input.job_id",
        &["inside the `for_each` `each`", "$steps.each"],
    );
    has(&p, "steps[4].input.job_id", &["$item", "for_each"]);
}

#[test]
fn expressions_that_do_not_parse() {
    let yaml = r#"
name: x
trigger: {type: manual}
steps:
  - id: a
    if: "{% $event.( %}"
    then: [{id: b, action: list-users}]
"#;
    has(
        &problems(yaml),
        "steps[0].if",
        &["$event.(", "does not parse"],
    );
}

#[test]
fn kinds_ids_and_bounds() {
    let yaml = r#"
name: x
trigger: {type: manual}
steps:
  - {id: a, action: list-users, wait: {seconds: 1}}
  - {id: a, action: list-users}
  - {id: 9lives}
  - id: c
    for_each: [1]
    concurrency: 99
    steps: [{id: d, action: list-users, retry: {max_attempts: 0, jitter: 2}}]
  - {id: e, wait: {seconds: 1, until: true}}
  - {id: f, wait: {until: "{% $poll.done %}", action: create-group}}
  - {id: g, action: list-users, then: [{id: h, action: list-users}]}
"#;
    let p = problems(yaml);
    has(&p, "steps[0]", &["exactly one kind", "action, wait"]);
    has(&p, "steps[1].id", &["used already at steps[0]"]);
    has(&p, "steps[2].id", &["not a step id"]);
    has(&p, "steps[2]", &["exactly one of"]);
    has(&p, "steps[3].concurrency", &["1 to 32", "99"]);
    has(&p, "steps[3].steps[0].retry.max_attempts", &["1 to 20"]);
    has(&p, "steps[3].steps[0].retry.jitter", &["0 to 1"]);
    has(&p, "steps[4].wait", &["either `seconds` or `until`"]);
    has(
        &p,
        "steps[5].wait.action",
        &["create-group", "safe to repeat"],
    );
    has(&p, "steps[6].then", &["belongs to a `if` step"]);
}

#[test]
fn schedules_need_a_cron_and_a_real_time_zone() {
    let p = problems(
        "name: x\ntrigger: {type: schedule, cron: '61 * * * *', timezone: Mars/Olympus}\nsteps: [{id: a, action: list-users}]\n",
    );
    has(&p, "trigger.cron", &["not a cron expression"]);
    let p = problems(
        "name: x\ntrigger: {type: schedule, cron: '0 2 * * *', timezone: Mars/Olympus}\nsteps: [{id: a, action: list-users}]\n",
    );
    has(&p, "trigger.timezone", &["Mars/Olympus", "IANA"]);
    let p = problems(
        "name: x\ntrigger: {type: schedule, cron: '0 2 * * *', timezone: Europe/Berlin}\nsteps: [{id: a, action: list-users}]\n",
    );
    assert_eq!(p, Vec::new());
}

#[test]
fn the_published_schema_describes_the_definition() {
    let schema = FlowDefinition::json_schema();
    let text = schema.to_string();
    for word in ["trigger", "steps", "for_each", "on_error", "retry", "cron"] {
        assert!(text.contains(word), "schema lacks {word}");
    }
}
