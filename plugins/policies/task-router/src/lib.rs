//! The `task-router` routing policy: rules on the request pick a tier of
//! models — "route the highest-volume tasks to the right model".
//!
//! ```toml
//! [routes.main]
//! policy = "task-router"
//! models = ["small", "big", "big-backup"]
//! [routes.main.policy_config]
//! tiers = { cheap = ["small"], strong = ["big", "big-backup"] }
//! default = "cheap"
//! rules = [
//!   { if = { metadata = { task = "code" } }, tier = "strong" },
//!   { if = { regex = '(?i)\b(prove|derive|step by step)\b' }, tier = "strong" },
//!   { if = { min_tokens = 2000 }, tier = "strong" },
//!   { if = { has_tools = true }, tier = "strong" },
//!   { if = { has_images = true }, tier = "strong" },
//! ]
//! ```
//!
//! Rules are checked in order; the first whose conditions all hold picks the
//! tier, and `default` serves when none does. Conditions:
//!
//! | key | holds when |
//! |---|---|
//! | `metadata = { k = "v", … }` | every listed key has that value in the request metadata |
//! | `regex = "…"` | the last user message matches anywhere (Rust `regex` syntax, with `\w \d \s \b` and `(?i)` Unicode-aware but no `\p{…}` classes); false without a user message |
//! | `min_tokens = n` / `max_tokens = n` | the prompt token estimate is ≥ n / ≤ n |
//! | `has_tools`, `has_images`, `wants_json`, `stream` = bool | the request's flag equals it |
//!
//! An empty `if = {}` always holds. The plan is the tier's models in the
//! tier's order (those among the route's candidates), then the other
//! candidates in route order as fallbacks; candidates whose circuit breaker is
//! open go last. Labels: `policy=task-router`, `tier=<name>`,
//! `rule=<index of the matching rule>|default`, and `breaker-open=<models>`
//! when some were put last.
//!
//! Unknown keys, unknown tier names, bad regexes and ill-typed values are
//! config errors naming the key (`rules[1].if.regex`); the host then falls
//! back to the route's static order.
//!
//! The decision itself lives in [`logic`], over plain Rust values, so it can
//! be tested natively and compared with reimplementations on the shared
//! cases in `testdata/`.

policy_kit::plugin!(TaskRouter);
policy_kit::wit_glue!();

pub mod logic;

use exports::switchyard::plugin::policy::{Candidate, Decision, Guest};
use switchyard::plugin::host;
use switchyard::plugin::request::RequestView;

struct TaskRouter;

thread_local! {
    /// The route's config as last parsed, with its compiled regexes: the host
    /// keeps an instance warm for many decisions of one route.
    static PARSED: std::cell::RefCell<Option<(Option<String>, std::rc::Rc<logic::Config>)>> =
        const { std::cell::RefCell::new(None) };
}

fn config() -> Result<std::rc::Rc<logic::Config>, String> {
    let text = host::config_json();
    PARSED.with_borrow_mut(|parsed| {
        if let Some((t, c)) = parsed.as_ref()
            && *t == text
        {
            return Ok(c.clone());
        }
        let c = std::rc::Rc::new(logic::Config::parse(text.as_deref())?);
        *parsed = Some((text, c.clone()));
        Ok(c)
    })
}

impl Guest for TaskRouter {
    fn observe(_outcome: exports::switchyard::plugin::policy::Outcome) {}

    fn route(req: RequestView, candidates: Vec<Candidate>) -> Result<Decision, String> {
        let config = config()?;
        let request = logic::Request {
            last_user: if config.reads_text() {
                req.last_user_message()
            } else {
                None
            },
            token_estimate: req.token_estimate(),
            has_tools: req.has_tools(),
            has_images: req.has_images(),
            wants_json: req.wants_json(),
            stream: req.stream(),
            metadata: if config.reads_metadata() {
                req.metadata()
            } else {
                vec![]
            },
        };
        let candidates: Vec<logic::Candidate> =
            candidates.iter().map(logic::Candidate::of).collect();
        let plan = logic::decide(&config, &request, &candidates);
        Ok(decision(plan.order, plan.labels))
    }
}
