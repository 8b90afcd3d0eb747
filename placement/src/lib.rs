//! Sites, links, placement policies and the choice of target sites.
//!
//! Pure: no IO, no async. Every function here is a function of its inputs, so
//! the same topology and policy always give the same placement.

mod bound;
mod choose;
mod duration;
mod error;
mod expr;
mod flow;
mod plan;
mod policy;
mod reconcile;
mod timeline;
mod topology;

pub use bound::lower_bound_s;
pub use choose::{place, Load, Placement, Reason, Subject};
pub use duration::parse_duration;
pub use error::PlacementError;
pub use expr::{ExprError, SiteExpr};
pub use flow::max_flow_bps;
pub use plan::{plan, Deadline, Hop, Plan, Transfer, Work, WorkError};
pub use policy::{Policy, Rule, DEFAULT_PRIORITY, MAX_PRIORITY};
pub use reconcile::{reconcile, Change, Held};
pub use topology::{Link, LinkId, Route, Site, SiteId, Topology};
