//! Prints the size of the `tools/list` answer (the tools' JSON as sent) for the whole catalog,
//! each toolset and the read-only subset: what an agent pays in context before its first call.
//!
//! `cargo run -p brickwire-mcp --example tools_list_size`

use brickwire_connector::{Catalog, Group};
use brickwire_mcp::{ToolFilter, tool_for};
use rmcp::model::ListToolsResult;

fn size(filter: &ToolFilter) -> (usize, usize) {
    let tools: Vec<_> = Catalog::global()
        .actions()
        .iter()
        .filter(|a| filter.allows(a))
        .map(tool_for)
        .collect();
    let count = tools.len();
    let json = serde_json::to_string(&ListToolsResult::with_all_items(tools)).expect("JSON");
    (count, json.len())
}

fn main() {
    println!("| tools | toolset | bytes | ~tokens (bytes/4) |");
    println!("|---|---|---:|---:|");
    let row = |name: &str, filter: ToolFilter| {
        let (count, bytes) = size(&filter);
        println!("| {count} | {name} | {bytes} | {} |", bytes / 4);
    };
    row("all", ToolFilter::all());
    row(
        "all, --read-only",
        ToolFilter::new::<&str>(&[], true).expect("filter"),
    );
    for group in Group::ALL {
        let name = group.as_str().to_ascii_lowercase();
        row(
            &name,
            ToolFilter::new(&[name.as_str()], false).expect("filter"),
        );
    }
}
