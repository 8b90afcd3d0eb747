//! Policy files and site expressions come from administrators' files and
//! the admin API: whatever they hold, parsing answers with a value or an
//! error, never a panic, and in bounded time and memory.

use meridian_placement::{Policy, SiteExpr, Topology};
use proptest::prelude::*;

fn topo() -> Topology {
    Topology::from_toml(
        "hub = \"Beijing\"\n[[site]]\nid = 1\nname = \"Beijing\"\n\
         [[site]]\nid = 2\nname = \"Jiangmen\"\n\
         [[link]]\nfrom = \"Beijing\"\nto = \"Jiangmen\"\nbandwidth_gbps = 2\n",
        "t",
    )
    .expect("topology")
}

/// Tokens of the expression language, so random strings reach past the
/// first character.
fn expr_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("Beijing".to_string()),
        Just("Jiangmen".to_string()),
        Just("name=Jiangmen".to_string()),
        Just("role=hub".to_string()),
        Just("*".to_string()),
        Just("|".to_string()),
        Just("&".to_string()),
        Just("\\".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just(" ".to_string()),
        Just("=".to_string()),
        "[a-z]{1,6}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

proptest! {
    #[test]
    fn site_expressions_parse_or_fail_cleanly(text in expr_text()) {
        if let Ok(e) = SiteExpr::parse(&text) {
            let _ = e.eval(&topo(), &text);
        }
    }

    #[test]
    fn policy_files_parse_or_fail_cleanly(
        lines in prop::collection::vec(
            prop_oneof![
                Just("[default]".to_string()),
                Just("[[rule]]".to_string()),
                "copies = [0-9]{1,3}",
                "ack = [0-9]{1,2}",
                "priority = [0-9]{1,2}",
                "within = \"[0-9]{0,3}[smhdwx]?\"",
                "lifetime = \"[0-9]{0,3}[smhdwx]?\"",
                "bucket = \"[a-z]{0,5}\"",
                "dataset = \"[a-z]{0,5}\"",
                "prefix = \"[a-z/]{0,5}\"",
                "prefer = \\[\"(Beijing|Jiangmen|Mars)\"\\]",
                expr_text().prop_map(|e| format!("sites = {e:?}")),
                "metadata = \\{ [a-z]{1,3} = \"[a-z]{0,3}\" \\}",
                any::<String>(),
            ],
            0..12,
        )
    ) {
        let _ = Policy::from_toml(&lines.join("\n"), "p.toml", &topo());
    }
}

#[test]
fn very_long_and_deep_expressions_are_refused_or_handled() {
    let t = topo();
    for text in [
        "(".repeat(100_000),
        format!("{}Beijing{}", "(".repeat(10_000), ")".repeat(10_000)),
        format!("{}Beijing", "Beijing|".repeat(200_000)),
        format!("{}Beijing", "Jiangmen&".repeat(200_000)),
    ] {
        if let Ok(e) = SiteExpr::parse(&text) {
            let _ = e.eval(&t, &text);
        }
    }
    // The longest accepted is still evaluated (and dropped) whole.
    let longest = format!("{}Beijing", "Beijing|".repeat(510));
    assert!(longest.len() <= 4096);
    let e = SiteExpr::parse(&longest).expect("a long union parses");
    assert_eq!(e.eval(&t, &longest).expect("eval").len(), 1);
    let e = SiteExpr::parse(&"Beijing|".repeat(600)).expect_err("too long");
    assert!(e.to_string().contains("at most 4096"), "{e}");
}
