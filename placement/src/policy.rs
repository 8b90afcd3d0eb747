//! Placement policies: which sites must hold an object.
//!
//! Rules match on bucket, key prefix, user metadata and dataset; the first
//! matching rule wins, else the default. A rule names how many copies to keep, how
//! many must exist before a write is acknowledged, a priority, an optional
//! deadline (`within`) and lifetime, and optionally which sites to prefer and
//! a site expression (`sites = "region=south | role=hub"`) limiting where the
//! copies beyond the ingest site's may go.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::duration::parse_duration;
use crate::{PlacementError, SiteId, Subject, Topology};

/// Priorities run from 1 (lowest) to 5; 3 unless a rule says otherwise.
pub const DEFAULT_PRIORITY: u8 = 3;
pub const MAX_PRIORITY: u8 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    /// User metadata the object must carry (every pair, exactly).
    pub metadata: BTreeMap<String, String>,
    /// A dataset the object must belong to (attached, taken by one of its
    /// rules, or kept by its publication).
    pub dataset: Option<String>,
    /// Total copies, the ingest site's included.
    pub copies: u32,
    /// Copies that must exist before a write is acknowledged (1..=copies).
    pub ack: u32,
    /// 1..=5, higher first when links are shared.
    pub priority: u8,
    /// Every copy should exist this many seconds after the write.
    pub within_s: Option<u64>,
    /// The object is deleted this many seconds after the write.
    pub lifetime_s: Option<u64>,
    /// Sites tried first, in order, after the ingest site.
    pub prefer: Vec<SiteId>,
    /// Where copies beyond the ingest site's may go (a site expression,
    /// `crate::SiteExpr`), as written and as evaluated; `None`: anywhere.
    pub sites: Option<(String, std::collections::BTreeSet<SiteId>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    rules: Vec<Rule>,
    default: Rule,
    /// The file it was read from, and its text, as given.
    origin: String,
    source: String,
    /// Sites being drained: no rule places a copy there.
    drained: std::collections::BTreeSet<SiteId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    default: Spanned<RuleFile>,
    #[serde(rename = "rule", default)]
    rules: Vec<Spanned<RuleFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    bucket: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    dataset: Option<String>,
    copies: Spanned<u32>,
    #[serde(default)]
    ack: Option<Spanned<u32>>,
    #[serde(default)]
    priority: Option<Spanned<u8>>,
    #[serde(default)]
    within: Option<Spanned<String>>,
    #[serde(default)]
    lifetime: Option<Spanned<String>>,
    #[serde(default)]
    prefer: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    sites: Option<Spanned<String>>,
}

/// `origin:line` of byte offset `at` in `text`: errors point at the line.
fn at_line(origin: &str, text: &str, at: usize) -> String {
    let line = text
        .get(..at)
        .map(|t| t.matches('\n').count() + 1)
        .unwrap_or(1);
    format!("{origin}:{line}")
}

impl Policy {
    /// Parses and validates a policy file against a topology.
    pub fn from_toml(text: &str, origin: &str, topo: &Topology) -> Result<Self, PlacementError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| PlacementError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        let convert = |r: RuleFile, fallback: String| -> Result<Rule, PlacementError> {
            let name = r.name.unwrap_or(fallback);
            let copies_at = at_line(origin, text, r.copies.span().start);
            let copies = *r.copies.get_ref();
            if copies == 0 {
                return Err(PlacementError::invalid(
                    &copies_at,
                    format!("rule {name}: copies = 0"),
                    "copies is at least 1",
                ));
            }
            if copies as usize > topo.sites().len() {
                return Err(PlacementError::invalid(
                    &copies_at,
                    format!(
                        "rule {name}: copies = {copies} but the topology has {} sites",
                        topo.sites().len()
                    ),
                    "copies is at most the number of sites",
                ));
            }
            let mut prefer = Vec::new();
            let prefer_at = r
                .prefer
                .as_ref()
                .map(|p| at_line(origin, text, p.span().start))
                .unwrap_or_else(|| origin.to_string());
            for s in r
                .prefer
                .as_ref()
                .map(|p| p.get_ref().as_slice())
                .unwrap_or(&[])
            {
                let site = topo.site_by_name(s).ok_or_else(|| {
                    PlacementError::invalid(
                        &prefer_at,
                        format!("rule {name}: unknown site {s:?} in prefer"),
                        "prefer names declared sites",
                    )
                })?;
                prefer.push(site.id);
            }
            let sites = match &r.sites {
                None => None,
                Some(spanned) => {
                    let origin = at_line(origin, text, spanned.span().start);
                    let origin = origin.as_str();
                    let text = spanned.get_ref();
                    let set = crate::SiteExpr::parse(text)
                        .and_then(|e| e.eval(topo, text))
                        .map_err(|e| {
                            PlacementError::invalid(
                                origin,
                                format!("rule {name}: {e}"),
                                "sites is a site expression over declared sites",
                            )
                        })?;
                    if set.len() + 1 < copies as usize {
                        return Err(PlacementError::invalid(
                            origin,
                            format!(
                                "rule {name}: copies = {copies} but sites {text:?} selects {} site(s)",
                                set.len()
                            ),
                            "sites selects at least copies - 1 sites (the ingest site holds one)",
                        ));
                    }
                    if let Some(p) = prefer.iter().find(|p| !set.contains(p)) {
                        return Err(PlacementError::invalid(
                            origin,
                            format!(
                                "rule {name}: prefers {} which sites {text:?} excludes",
                                topo.name(*p)
                            ),
                            "preferred sites are among the rule's sites",
                        ));
                    }
                    Some((text.clone(), set))
                }
            };
            let ack = match &r.ack {
                None => 1,
                Some(a) => {
                    let v = *a.get_ref();
                    if v == 0 || v > copies {
                        return Err(PlacementError::invalid(
                            &at_line(origin, text, a.span().start),
                            format!("rule {name}: ack = {v} with copies = {copies}"),
                            "ack is between 1 and copies",
                        ));
                    }
                    v
                }
            };
            let priority = match &r.priority {
                None => DEFAULT_PRIORITY,
                Some(p) => {
                    let v = *p.get_ref();
                    if !(1..=MAX_PRIORITY).contains(&v) {
                        return Err(PlacementError::invalid(
                            &at_line(origin, text, p.span().start),
                            format!("rule {name}: priority = {v}"),
                            "priority is between 1 (lowest) and 5 (highest)",
                        ));
                    }
                    v
                }
            };
            let duration = |d: &Option<Spanned<String>>, field: &str| match d {
                None => Ok(None),
                Some(d) => parse_duration(d.get_ref()).map(Some).map_err(|e| {
                    PlacementError::invalid(
                        &at_line(origin, text, d.span().start),
                        format!("rule {name}: {field} = {e}"),
                        "a duration is a number and a unit (s, m, h, d, w), e.g. \"6h\"",
                    )
                }),
            };
            let within_s = duration(&r.within, "within")?;
            let lifetime_s = duration(&r.lifetime, "lifetime")?;
            if let (Some(w), Some(l)) = (within_s, lifetime_s) {
                if l <= w {
                    return Err(PlacementError::invalid(
                        &at_line(
                            origin,
                            text,
                            r.lifetime.as_ref().map_or(0, |l| l.span().start),
                        ),
                        format!("rule {name}: lifetime ({l} s) ends before within ({w} s)"),
                        "lifetime is longer than within",
                    ));
                }
            }
            Ok(Rule {
                name,
                bucket: r.bucket,
                prefix: r.prefix,
                metadata: r.metadata,
                dataset: r.dataset,
                copies,
                ack,
                priority,
                within_s,
                lifetime_s,
                prefer,
                sites,
            })
        };
        let default = convert(file.default.into_inner(), "default".to_string())?;
        let mut rules = Vec::new();
        for (i, r) in file.rules.into_iter().enumerate() {
            let rule_at = at_line(origin, text, r.span().start);
            let r = r.into_inner();
            if r.bucket.is_none()
                && r.prefix.is_none()
                && r.metadata.is_empty()
                && r.dataset.is_none()
            {
                return Err(PlacementError::invalid(
                    &rule_at,
                    format!("rule #{} matches everything", i + 1),
                    "a [[rule]] has a bucket, a prefix, metadata or a dataset; use [default] for the rest",
                ));
            }
            if r.dataset.as_deref().is_some_and(str::is_empty) {
                return Err(PlacementError::invalid(
                    &rule_at,
                    format!("rule #{}: dataset = \"\"", i + 1),
                    "dataset names a dataset",
                ));
            }
            rules.push(convert(r, format!("rule-{}", i + 1))?);
        }
        Ok(Policy {
            rules,
            default,
            origin: origin.to_string(),
            source: text.to_string(),
            drained: Default::default(),
        })
    }

    /// The rule that governs an object: the first match, else the default.
    pub fn rule_for(&self, object: &Subject<'_>) -> &Rule {
        self.rules
            .iter()
            .find(|r| {
                r.bucket.as_deref().is_none_or(|b| b == object.bucket)
                    && r.prefix
                        .as_deref()
                        .is_none_or(|p| object.key.starts_with(p))
                    && r.metadata
                        .iter()
                        .all(|(k, v)| object.metadata.and_then(|m| m.get(k)) == Some(v))
                    && r.dataset
                        .as_deref()
                        .is_none_or(|d| object.datasets.iter().any(|o| o == d))
            })
            .unwrap_or(&self.default)
    }

    /// The same policy with everything moved off `drained` (the ingest
    /// copy included, once it has been copied elsewhere).
    pub fn with_drained(mut self, drained: std::collections::BTreeSet<SiteId>) -> Self {
        self.drained = drained;
        self
    }

    pub fn drained(&self) -> &std::collections::BTreeSet<SiteId> {
        &self.drained
    }

    /// Whether `rule` lets a copy of an object born at `ingest` live at `site`.
    pub fn keeps(&self, rule: &Rule, ingest: SiteId, site: SiteId) -> bool {
        !self.drained.contains(&site)
            && (site == ingest
                || rule
                    .sites
                    .as_ref()
                    .is_none_or(|(_, set)| set.contains(&site)))
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The policy file's text, as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The datasets the rules select by: a caller placing an object tells
    /// [`Subject::datasets`] which of these it belongs to.
    pub fn datasets(&self) -> std::collections::BTreeSet<&str> {
        self.rules
            .iter()
            .filter_map(|r| r.dataset.as_deref())
            .collect()
    }

    /// Every rule, the default last.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().chain(std::iter::once(&self.default))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{place, Load, Subject};

    fn topo() -> Topology {
        Topology::from_toml(
            r#"
hub = "Beijing"
[[site]]
id = 1
name = "Beijing"
[[site]]
id = 2
name = "Huairou"
[[site]]
id = 3
name = "Dongguan"
[[site]]
id = 5
name = "Jiangmen"
[[link]]
from = "Beijing"
to = "Huairou"
bandwidth_gbps = 100
[[link]]
from = "Beijing"
to = "Dongguan"
bandwidth_gbps = 20
[[link]]
from = "Beijing"
to = "Jiangmen"
bandwidth_gbps = 2
"#,
            "t",
        )
        .expect("topology")
    }

    #[test]
    fn default_three_copies_ingest_hub_then_fastest() {
        let t = topo();
        let p = Policy::from_toml("[default]\ncopies = 3\n", "p", &t).expect("policy");
        let pl = place(&t, &p, &Subject::new("b", "k"), SiteId(5), &Load::default());
        assert_eq!(pl.sites, vec![SiteId(5), SiteId(1), SiteId(2)]);
        assert_eq!(pl.rule, "default");
        assert_eq!(pl.reasons.len(), 3);
        // Born at the hub: hub, then the two fastest others.
        let pl = place(&t, &p, &Subject::new("b", "k"), SiteId(1), &Load::default());
        assert_eq!(pl.sites, vec![SiteId(1), SiteId(2), SiteId(3)]);
    }

    #[test]
    fn a_site_expression_limits_where_copies_go() {
        let t = topo();
        let text = "[default]\ncopies = 2\nsites = \"Dongguan | Jiangmen\"\n";
        let p = Policy::from_toml(text, "p", &t).expect("policy");
        // Not the hub, nor the faster Huairou: only the rule's sites.
        let pl = place(&t, &p, &Subject::new("b", "k"), SiteId(1), &Load::default());
        assert_eq!(pl.sites, vec![SiteId(1), SiteId(3)]);
        // The ingest site holds its copy wherever it is.
        let pl = place(&t, &p, &Subject::new("b", "k"), SiteId(2), &Load::default());
        assert_eq!(pl.sites[0], SiteId(2));
        assert!(matches!(pl.sites[1], SiteId(3) | SiteId(5)));

        for (text, want) in [
            (
                "[default]\ncopies = 3\nsites = \"Jiangmen\"\n",
                "selects 1 site",
            ),
            (
                "[default]\ncopies = 2\nsites = \"Jiangmn\"\n",
                "no site is named",
            ),
            ("[default]\ncopies = 2\nsites = \"Jiangmen |\"\n", "column"),
            (
                "[default]\ncopies = 2\nprefer = [\"Huairou\"]\nsites = \"Jiangmen\"\n",
                "excludes",
            ),
        ] {
            let err = Policy::from_toml(text, "p.toml", &t)
                .expect_err(want)
                .to_string();
            assert!(
                err.contains(want) && err.contains("p.toml"),
                "{want:?}: {err}"
            );
        }
    }

    #[test]
    fn rules_select_by_dataset() {
        let t = topo();
        let p = Policy::from_toml(
            r#"
[default]
copies = 1
[[rule]]
name = "golden"
dataset = "juno-golden"
copies = 4
[[rule]]
name = "raw"
bucket = "juno"
dataset = "juno-raw"
copies = 2
"#,
            "p",
            &t,
        )
        .expect("policy");
        assert_eq!(
            p.datasets().into_iter().collect::<Vec<_>>(),
            ["juno-golden", "juno-raw"]
        );
        let golden = ["juno-golden".to_string()];
        let raw = ["juno-raw".to_string()];
        let rule = |bucket, datasets: &[String]| {
            let s = Subject {
                datasets,
                ..Subject::new(bucket, "k")
            };
            p.rule_for(&s).name.clone()
        };
        assert_eq!(rule("any", &golden), "golden");
        assert_eq!(rule("juno", &raw), "raw");
        // Both selectors must hold: the dataset alone is not enough.
        assert_eq!(rule("other", &raw), "default");
        assert_eq!(rule("juno", &[]), "default");

        let e = Policy::from_toml(
            "[default]\ncopies = 1\n[[rule]]\ndataset = \"\"\ncopies = 2\n",
            "p.toml",
            &t,
        )
        .expect_err("empty dataset")
        .to_string();
        assert!(e.contains("names a dataset"), "{e}");
    }

    #[test]
    fn first_matching_rule_wins() {
        let t = topo();
        let p = Policy::from_toml(
            r#"
[default]
copies = 2
[[rule]]
name = "juno-raw"
bucket = "juno"
prefix = "raw/"
copies = 3
prefer = ["Dongguan"]
[[rule]]
bucket = "juno"
copies = 1
"#,
            "p",
            &t,
        )
        .expect("policy");
        let pl = place(
            &t,
            &p,
            &Subject::new("juno", "raw/run1"),
            SiteId(5),
            &Load::default(),
        );
        assert_eq!(pl.rule, "juno-raw");
        assert_eq!(pl.sites, vec![SiteId(5), SiteId(3), SiteId(1)]);
        assert_eq!(
            place(
                &t,
                &p,
                &Subject::new("juno", "derived/x"),
                SiteId(5),
                &Load::default()
            )
            .sites,
            vec![SiteId(5)]
        );
        assert_eq!(
            place(
                &t,
                &p,
                &Subject::new("other", "raw/x"),
                SiteId(5),
                &Load::default()
            )
            .sites
            .len(),
            2
        );
    }

    #[test]
    fn invalid_policies_say_what_is_wrong() {
        let t = topo();
        let e = Policy::from_toml("[default]\ncopies = 9\n", "p.toml", &t).expect_err("too many");
        assert!(e.to_string().contains("at most the number of sites"), "{e}");
        let e = Policy::from_toml("[default]\ncopies = 1\nprefer = [\"Mars\"]\n", "p.toml", &t)
            .expect_err("unknown");
        assert!(e.to_string().contains("Mars"), "{e}");
        let e = Policy::from_toml(
            "[default]\ncopies = 1\n[[rule]]\ncopies = 1\n",
            "p.toml",
            &t,
        )
        .expect_err("catch-all");
        assert!(e.to_string().contains("matches everything"), "{e}");
        let e = Policy::from_toml("[default]\ncopie = 1\n", "p.toml", &t).expect_err("typo");
        assert!(e.to_string().contains("p.toml"), "{e}");
        // Errors name the line.
        let e = Policy::from_toml(
            "[default]\ncopies = 1\n\n[[rule]]\nbucket = \"b\"\ncopies = 0\n",
            "p.toml",
            &t,
        )
        .expect_err("zero");
        assert!(e.to_string().starts_with("p.toml:6:"), "{e}");
        let e = Policy::from_toml("[default]\ncopies = 2\nsites = \"Mars\"\n", "p.toml", &t)
            .expect_err("mars");
        assert!(e.to_string().starts_with("p.toml:3:"), "{e}");
        for (text, want) in [
            (
                "[default]\ncopies = 2\nack = 3\n",
                "p.toml:3: rule default: ack = 3",
            ),
            ("[default]\ncopies = 2\nack = 0\n", "between 1 and copies"),
            (
                "[default]\ncopies = 2\npriority = 9\n",
                "p.toml:3: rule default: priority = 9",
            ),
            ("[default]\ncopies = 2\nwithin = \"6 hours\"\n", "p.toml:3"),
            ("[default]\ncopies = 2\nwithin = \"6\"\n", "has no unit"),
            (
                "[default]\ncopies = 2\nwithin = \"2d\"\nlifetime = \"1d\"\n",
                "p.toml:4: rule default: lifetime",
            ),
        ] {
            let e = Policy::from_toml(text, "p.toml", &t)
                .expect_err(want)
                .to_string();
            assert!(e.contains(want), "{want:?}: {e}");
        }
    }

    #[test]
    fn same_input_same_placement() {
        let t = topo();
        let p = Policy::from_toml("[default]\ncopies = 4\n", "p", &t).expect("policy");
        let a = place(&t, &p, &Subject::new("b", "k"), SiteId(3), &Load::default());
        for _ in 0..10 {
            assert_eq!(
                place(&t, &p, &Subject::new("b", "k"), SiteId(3), &Load::default()),
                a
            );
        }
    }
}
