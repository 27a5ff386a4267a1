//! A model of known skill for `mock-upstream`: it recognises the task
//! families of the example dataset (`examples/bench/tasks.jsonl`, made by
//! `examples/bench/generate.py`) in the last user message, solves them, and
//! answers correctly with a chosen probability, wrongly otherwise.
//!
//! Flags ([`SkillOptions`], part of `mock-upstream`'s options):
//!
//! - `--skill F` (0–1): the probability of a correct answer, every family;
//! - `--skill-by-task arith=0.3,classify=0.95,extract=0.6`: per family,
//!   overriding `--skill` for the families it names;
//! - `--skill-after N:F`: the first N task requests (counted across families,
//!   in arrival order) are answered at the skills above, every later one at
//!   F, whatever its family — a regression at a known point;
//! - `--seed S` (default 0): which tasks fall on the wrong side.
//!
//! Any of `--skill`, `--skill-by-task` and `--skill-after` turns the solver
//! on; a family none of them sets has skill 1.0. Without them (or with
//! `--seed` alone) the mock behaves as before.
//!
//! The families, recognised from the prompt text alone:
//!
//! - `arith`: `What is 53 + 67 * 30? Answer with the number only.` — integers
//!   and `+ - *` with the usual precedence; the answer is the number (`2063`).
//! - `classify`: `Classify the sentiment of this review as positive or
//!   negative. Answer with one word.\n\nReview: …` or `Classify the intent
//!   of this customer message as billing, technical, cancel or other. …
//!   Message: …`; the words after `Review:`/`Message:` are looked up in the
//!   generator's lexicons ([`SENTIMENT`], [`INTENTS`]); the answer is the
//!   label (`negative`, `billing`; an intent with no keyword is `other`).
//! - `extract`: `Extract name, age and city from this text as a JSON object
//!   with keys name, age, city: …`; the name and city are found from the
//!   generator's lists ([`NAMES`], [`CITIES`]), the age is the text's first
//!   number; the answer is compact JSON in that key order
//!   (`{"name":"Ivan","age":20,"city":"Buenos Aires"}`).
//!
//! Each answer is exactly the dataset's `expected`. Whether a request is
//! answered correctly is not drawn from a global random generator: a SHA-256
//! of the seed and the prompt text gives a number u in [0, 1), and the answer
//! is correct when u < skill. So the same prompt with the same seed gets the
//! same answer on every run and every dialect (the request counter of
//! `--skill-after` only chooses which skill u is compared with), and a lower
//! skill gets wrong a superset of what a higher one gets wrong. A wrong
//! answer is plausible and never correct: a number off by 1–10, another
//! label, or the object with one field missing or wrong — picked by other
//! bits of the same hash.
//!
//! The answer text then takes the ordinary reply path (every dialect,
//! streaming included); `--label L` still prefixes it (`[L] 2063`), so a
//! scorer of a labelled mock must strip the label. A recognised task is
//! answered even with `--reply` set; tool calls come first as always, and
//! anything else gets the `--reply` or the echo. `GET /mock/stats` reports
//! the counters under `skill`: `{"answered": N, "arith": {"correct": c,
//! "wrong": w}, "classify": …, "extract": …}` (`null` without a skill flag).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

mod vocab;

pub use self::vocab::{CITIES, INTENT_LABELS, INTENTS, NAMES, SENTIMENT, SENTIMENT_LABELS};

/// The task families of the example dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Integer arithmetic.
    Arith,
    /// Sentiment or intent classification.
    Classify,
    /// Name, age and city extracted as JSON.
    Extract,
}

impl Family {
    /// Every family, in the order of their counters.
    pub const ALL: [Family; 3] = [Family::Arith, Family::Classify, Family::Extract];

    /// The name in the dataset's `task` field and in the flags.
    pub fn name(self) -> &'static str {
        match self {
            Family::Arith => "arith",
            Family::Classify => "classify",
            Family::Extract => "extract",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Longest arithmetic expression solved (operands); longer ones are echoed.
const MAX_OPERANDS: usize = 32;

/// The skill flags of `mock-upstream`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SkillOptions {
    /// Play a model of known skill: answer the tasks of
    /// examples/bench/tasks.jsonl (arith, classify, extract) correctly with
    /// this probability (0–1), wrongly otherwise; other prompts as without it.
    #[arg(long = "skill", value_parser = parse_fraction)]
    pub skill: Option<f64>,
    /// Skill per task family, overriding `--skill` for the families named:
    /// `arith=0.3,classify=0.95,extract=0.6` (a family no flag sets: 1.0).
    #[arg(long = "skill-by-task", value_name = "FAMILY=F,...", value_parser = parse_by_task)]
    pub by_task: Option<SkillByTask>,
    /// `N:F`: after N task requests, every family's skill becomes F (a
    /// regression at a known point).
    #[arg(long = "skill-after", value_name = "N:F", value_parser = parse_after)]
    pub after: Option<SkillAfter>,
    /// Seed of the skill's decisions: which prompts are answered wrongly
    /// (the same prompt and seed always get the same answer).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `--skill-by-task`: a skill per family ([`Family::ALL`] order), `None`
/// where the flag names none.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SkillByTask(pub [Option<f64>; 3]);

/// `--skill-after N:F`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkillAfter {
    /// Task requests answered at the first skill.
    pub after: u64,
    /// The skill of every family from then on.
    pub skill: f64,
}

/// A probability, 0–1 (`--skill`).
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let f: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&f) {
        Ok(f)
    } else {
        Err(format!("{s} is not between 0 and 1"))
    }
}

/// `arith=0.3,classify=0.95,extract=0.6` (any subset, each family once).
pub fn parse_by_task(s: &str) -> Result<SkillByTask, String> {
    let mut out = SkillByTask::default();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| format!("`{item}`: expected FAMILY=SKILL"))?;
        let family = Family::ALL
            .into_iter()
            .find(|f| f.name() == name.trim())
            .ok_or_else(|| format!("unknown task family `{name}` (arith, classify, extract)"))?;
        let slot = &mut out.0[family.index()];
        if slot.is_some() {
            return Err(format!("task family `{name}` named twice"));
        }
        *slot = Some(parse_fraction(value)?);
    }
    if out.0.iter().all(Option::is_none) {
        return Err("no FAMILY=SKILL given".into());
    }
    Ok(out)
}

/// `N:F`: after N task requests the skill becomes F.
pub fn parse_after(s: &str) -> Result<SkillAfter, String> {
    let (n, f) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}`: expected N:SKILL"))?;
    let after = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a request count"))?;
    Ok(SkillAfter {
        after,
        skill: parse_fraction(f)?,
    })
}

/// The correct answer to a recognised task, and what wrong ones look like.
#[derive(Debug, Clone, PartialEq)]
enum Solution {
    Number(i64),
    Label {
        labels: &'static [&'static str],
        index: usize,
    },
    Person {
        name: &'static str,
        age: i64,
        city: &'static str,
    },
}

/// A task recognised in a prompt and solved.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Its family.
    pub family: Family,
    solution: Solution,
}

impl Task {
    /// The correct answer, exactly as the dataset's `expected` reads.
    pub fn correct(&self) -> String {
        match &self.solution {
            Solution::Number(n) => n.to_string(),
            Solution::Label { labels, index } => labels
                .get(*index)
                .map(|l| (*l).to_owned())
                .unwrap_or_default(),
            Solution::Person { name, age, city } => person(Some(*name), Some(*age), Some(*city)),
        }
    }

    /// A plausible wrong answer, chosen by `r`; never the correct one.
    pub fn wrong(&self, r: u64) -> String {
        match &self.solution {
            Solution::Number(n) => near(*n, r % 10, r >> 8).to_string(),
            Solution::Label { labels, index } => {
                let len = labels.len().max(2);
                let other = (*index + 1 + (r as usize) % (len - 1)) % len;
                labels
                    .get(other)
                    .map(|l| (*l).to_owned())
                    .unwrap_or_default()
            }
            Solution::Person { name, age, city } => {
                let (name, age, city) = (*name, *age, *city);
                let pick = (r >> 8) as usize;
                match r % 5 {
                    0 => person(Some(name), None, Some(city)),
                    1 => person(Some(name), Some(age), None),
                    2 => person(
                        Some(name),
                        Some(near(age, (r >> 3) & 3, r >> 5)),
                        Some(city),
                    ),
                    3 => person(Some(name), Some(age), Some(other_of(&CITIES, city, pick))),
                    _ => person(Some(other_of(&NAMES, name, pick)), Some(age), Some(city)),
                }
            }
        }
    }
}

/// `n` moved by 1 + `step` (`step` < 16; up when `sign` is even, else
/// down): never `n`.
fn near(n: i64, step: u64, sign: u64) -> i64 {
    let delta = 1 + (step % 16) as i64;
    let delta = if sign & 1 == 1 { -delta } else { delta };
    n.checked_add(delta).unwrap_or(n.wrapping_sub(delta))
}

/// An item of `list` other than `not` (the list has at least two).
fn other_of(list: &'static [&'static str], not: &str, pick: usize) -> &'static str {
    let at = list.iter().position(|x| *x == not).unwrap_or(0);
    let len = list.len().max(2);
    list.get((at + 1 + pick % (len - 1)) % len)
        .copied()
        .unwrap_or_default()
}

/// Compact JSON with the keys in the order name, age, city; absent ones left out.
fn person(name: Option<&str>, age: Option<i64>, city: Option<&str>) -> String {
    let mut fields = Vec::new();
    if let Some(n) = name {
        fields.push(format!("\"name\":{}", Value::from(n)));
    }
    if let Some(a) = age {
        fields.push(format!("\"age\":{a}"));
    }
    if let Some(c) = city {
        fields.push(format!("\"city\":{}", Value::from(c)));
    }
    format!("{{{}}}", fields.join(","))
}

/// Recognise and solve the task in a prompt; `None` when it is none of the
/// families or cannot be solved.
pub fn solve(prompt: &str) -> Option<Task> {
    let (family, solution) = if prompt.contains("Answer with the number only") {
        (Family::Arith, Solution::Number(arith(prompt)?))
    } else if let Some(text) = after(prompt, "Classify the sentiment", "Review:") {
        let index = sentiment(text)?;
        let labels = &SENTIMENT_LABELS;
        (Family::Classify, Solution::Label { labels, index })
    } else if let Some(text) = after(prompt, "Classify the intent", "Message:") {
        let index = intent(text);
        let labels = &INTENT_LABELS;
        (Family::Classify, Solution::Label { labels, index })
    } else if let Some(text) = after(prompt, "Extract name, age and city", "name, age, city:") {
        let (name, age, city) = extraction(text)?;
        (Family::Extract, Solution::Person { name, age, city })
    } else {
        return None;
    };
    Some(Task { family, solution })
}

/// The text after `field` in a prompt that contains `mark` before it.
fn after<'a>(prompt: &'a str, mark: &str, field: &str) -> Option<&'a str> {
    let (_, rest) = prompt.split_once(mark)?;
    Some(rest.split_once(field)?.1)
}

/// `What is EXPR?`: EXPR's value, `*` before `+ -`, overflow refused.
fn arith(prompt: &str) -> Option<i64> {
    let (_, rest) = prompt.split_once("What is ")?;
    let (expr, _) = rest.split_once('?')?;
    let mut nums: Vec<i64> = Vec::new();
    let mut ops: Vec<char> = Vec::new();
    let mut rest = expr.trim_start();
    loop {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        nums.push(rest.get(..digits)?.parse().ok()?);
        rest = rest.get(digits..)?.trim_start();
        let Some(op) = rest.chars().next() else { break };
        if !matches!(op, '+' | '-' | '*') || nums.len() >= MAX_OPERANDS {
            return None;
        }
        ops.push(op);
        rest = rest.get(1..)?.trim_start();
    }
    if ops.is_empty() {
        return None;
    }
    // Products first, then the sum of signed terms.
    let mut terms = vec![(1i64, *nums.first()?)];
    for (op, n) in ops.iter().zip(nums.iter().skip(1)) {
        match op {
            '*' => {
                let last = terms.last_mut()?;
                last.1 = last.1.checked_mul(*n)?;
            }
            '+' => terms.push((1, *n)),
            _ => terms.push((-1, *n)),
        }
    }
    terms
        .into_iter()
        .try_fold(0i64, |acc, (sign, t)| acc.checked_add(t.checked_mul(sign)?))
}

/// Lower-case words of a text (runs of letters).
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Hits per label of a lexicon.
fn hits<const N: usize>(text: &str, lexicon: &[(&str, &[&str]); N]) -> [usize; N] {
    let mut out = [0; N];
    for w in words(text) {
        for (i, (_, keys)) in lexicon.iter().enumerate() {
            if keys.contains(&w.as_str())
                && let Some(slot) = out.get_mut(i)
            {
                *slot += 1;
            }
        }
    }
    out
}

/// The sentiment label's index: the lexicon with more words in the text.
fn sentiment(text: &str) -> Option<usize> {
    let [pos, neg] = hits(text, &SENTIMENT);
    match pos.cmp(&neg) {
        std::cmp::Ordering::Greater => Some(0),
        std::cmp::Ordering::Less => Some(1),
        std::cmp::Ordering::Equal => None,
    }
}

/// The intent label's index: the most keywords (the first on a tie), else `other`.
fn intent(text: &str) -> usize {
    let counts = hits(text, &INTENTS);
    let mut best = INTENT_LABELS.len() - 1;
    let mut most = 0;
    for (i, c) in counts.iter().enumerate() {
        if *c > most {
            best = i;
            most = *c;
        }
    }
    best
}

/// The first name of [`NAMES`], the first city of [`CITIES`] (the longest
/// where two start at one place) and the first number of the text.
fn extraction(text: &str) -> Option<(&'static str, i64, &'static str)> {
    let name = text
        .split(|c: char| !c.is_alphanumeric())
        .find_map(|w| NAMES.iter().copied().find(|n| *n == w))?;
    let city = CITIES
        .iter()
        .filter_map(|c| Some((find_word(text, c)?, std::cmp::Reverse(c.len()), *c)))
        .min()?
        .2;
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let digits = text.get(start..)?;
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let age = digits.get(..end)?.parse().ok()?;
    Some((name, age, city))
}

/// Where `word` first stands in `text` as a whole word (or words).
fn find_word(text: &str, word: &str) -> Option<usize> {
    text.match_indices(word).map(|(i, _)| i).find(|&i| {
        let before = text.get(..i).and_then(|s| s.chars().next_back());
        let after = text.get(i + word.len()..).and_then(|s| s.chars().next());
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The draw of a prompt under a seed: u in [0, 1) (correct when u < skill)
/// and bits to choose a wrong answer with. A SHA-256, so it is the same on
/// every platform and release.
pub fn draw(seed: u64, prompt: &str) -> (f64, u64) {
    let mut h = Sha256::new();
    h.update(b"switchyard mock-upstream skill\0");
    h.update(seed.to_le_bytes());
    h.update(prompt.as_bytes());
    let d = h.finalize();
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&d[..8]);
    b.copy_from_slice(&d[8..16]);
    let u = (u64::from_le_bytes(a) >> 11) as f64 / (1u64 << 53) as f64;
    (u, u64::from_le_bytes(b))
}

/// The skill model of a running mock: its settings and counters.
#[derive(Debug)]
pub struct Skill {
    base: [f64; 3],
    after: Option<SkillAfter>,
    seed: u64,
    answered: AtomicU64,
    correct: [AtomicU64; 3],
    wrong: [AtomicU64; 3],
}

impl Skill {
    /// The skill model the options ask for; `None` when no skill flag is set.
    pub fn new(opts: &SkillOptions) -> Option<Skill> {
        if opts.skill.is_none() && opts.by_task.is_none() && opts.after.is_none() {
            return None;
        }
        let by_task = opts.by_task.unwrap_or_default();
        let default = opts.skill.unwrap_or(1.0);
        Some(Skill {
            base: by_task.0.map(|s| s.unwrap_or(default)),
            after: opts.after,
            seed: opts.seed,
            answered: AtomicU64::new(0),
            correct: Default::default(),
            wrong: Default::default(),
        })
    }

    /// The skill of the `n`th task request (from 0) of `family`.
    fn skill(&self, family: Family, n: u64) -> f64 {
        match self.after {
            Some(a) if n >= a.after => a.skill,
            _ => self.base[family.index()],
        }
    }

    /// The reply of `skill` (if on) to a request whose last user message is a
    /// task; `None` when it is not one, or answers a tool result.
    pub fn reply(skill: Option<&Skill>, r: &super::MockRequest) -> Option<String> {
        skill?.answer(r.tool_result.is_none().then_some(r.last_user.as_str())?)
    }

    /// The reply to a prompt that is a task (`None`: not one), counted.
    pub fn answer(&self, prompt: &str) -> Option<String> {
        let task = solve(prompt)?;
        let n = self.answered.fetch_add(1, Ordering::Relaxed);
        let (u, r) = draw(self.seed, prompt);
        let i = task.family.index();
        if u < self.skill(task.family, n) {
            self.correct[i].fetch_add(1, Ordering::Relaxed);
            Some(task.correct())
        } else {
            self.wrong[i].fetch_add(1, Ordering::Relaxed);
            Some(task.wrong(r))
        }
    }

    /// The counters for `GET /mock/stats`.
    pub fn stats(&self) -> Value {
        let mut out = json!({"answered": self.answered.load(Ordering::Relaxed)});
        for f in Family::ALL {
            out[f.name()] = json!({
                "correct": self.correct[f.index()].load(Ordering::Relaxed),
                "wrong": self.wrong[f.index()].load(Ordering::Relaxed),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(skill: Option<f64>) -> SkillOptions {
        SkillOptions {
            skill,
            ..SkillOptions::default()
        }
    }

    #[test]
    fn arithmetic_follows_precedence() {
        let q = |e: &str| solve(&format!("What is {e}? Answer with the number only."));
        assert_eq!(q("53 + 67 * 30").unwrap().correct(), "2063");
        assert_eq!(q("57 - 66 + 91").unwrap().correct(), "82");
        assert_eq!(q("2 * 3 * 4").unwrap().correct(), "24");
        assert_eq!(q("5 - 90").unwrap().correct(), "-85");
        assert_eq!(q("10-2*3").unwrap().correct(), "4");
        assert_eq!(q("7").map(|t| t.correct()), None, "one operand is no task");
        assert_eq!(q("7 / 2"), None);
        assert_eq!(q("9999999999 * 9999999999 * 9999999999"), None, "overflow");
        assert_eq!(q("99999999999999999999 + 1"), None);
        assert_eq!(q("1 +"), None);
        assert_eq!(q(""), None);
        assert_eq!(q(&["1"; 40].join(" + ")), None);
        assert_eq!(
            solve("What is 2 + 2?"),
            None,
            "the instruction names the family"
        );
    }

    #[test]
    fn classification_by_lexicon() {
        let s = |t: &str| {
            solve(&format!(
                "Classify the sentiment of this review as positive or negative. Answer with one word.\n\nReview: {t}"
            ))
        };
        assert_eq!(s("The laptop was Superb.").unwrap().correct(), "positive");
        assert_eq!(
            s("The delivery seemed dreadful, honestly.")
                .unwrap()
                .correct(),
            "negative"
        );
        assert_eq!(s("It was a laptop."), None, "no lexicon word");
        let i = |t: &str| {
            solve(&format!("Classify the intent of this customer message as billing, technical, cancel or other. Answer with one word.\n\nMessage: {t}"))
                .unwrap()
                .correct()
        };
        assert_eq!(i("When will my refund arrive?"), "billing");
        assert_eq!(i("Hi. The login page keeps spinning."), "technical");
        assert_eq!(i("Please cancel my subscription."), "cancel");
        assert_eq!(i("Do you ship to Canada?"), "other");
        // The label list of the instruction is not the message.
        assert_eq!(i("Where is your store?"), "other");
    }

    #[test]
    fn extraction_finds_name_age_city() {
        let e = |t: &str| {
            solve(&format!("Extract name, age and city from this text as a JSON object with keys name, age, city: {t}"))
                .map(|t| t.correct())
        };
        assert_eq!(
            e("Our new colleague Ivan (20) is based in Buenos Aires.").as_deref(),
            Some(r#"{"name":"Ivan","age":20,"city":"Buenos Aires"}"#)
        );
        assert_eq!(
            e("After moving to Lima, Ana celebrated turning 31 with friends.").as_deref(),
            Some(r#"{"name":"Ana","age":31,"city":"Lima"}"#)
        );
        assert_eq!(
            e("Ana lives in Perthshire, aged 30."),
            None,
            "no whole city"
        );
        assert_eq!(e("Ana lives in Lima."), None, "no age");
    }

    #[test]
    fn wrong_answers_are_plausible_and_never_right() {
        let tasks = [
            "What is 53 + 67 * 30? Answer with the number only.",
            "Classify the sentiment of this review as positive or negative. Answer with one word.\n\nReview: great",
            "Classify the intent of this customer message as billing, technical, cancel or other. Answer with one word.\n\nMessage: refund",
            "Extract name, age and city from this text as a JSON object with keys name, age, city: Ana is 31 years old and lives in Lima.",
        ];
        for prompt in tasks {
            let task = solve(prompt).unwrap();
            let right = task.correct();
            for r in 0..2000u64 {
                let r = r.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let wrong = task.wrong(r);
                assert_ne!(wrong, right, "{prompt}");
                match task.family {
                    Family::Arith => {
                        let d = wrong.parse::<i64>().unwrap() - 2063;
                        assert!((1..=10).contains(&d.abs()), "{d}");
                    }
                    Family::Classify => assert!(
                        SENTIMENT_LABELS.contains(&wrong.as_str())
                            || INTENT_LABELS.contains(&wrong.as_str())
                    ),
                    Family::Extract => {
                        let v: Value = serde_json::from_str(&wrong).unwrap();
                        assert!(v.as_object().unwrap().len() >= 2, "{wrong}");
                    }
                }
            }
        }
    }

    #[test]
    fn decisions_depend_on_prompt_and_seed_only() {
        let p = "What is 2 + 3? Answer with the number only.";
        assert_eq!(draw(1, p), draw(1, p));
        assert_ne!(draw(1, p), draw(2, p));
        let a = Skill::new(&SkillOptions {
            seed: 7,
            ..opts(Some(0.5))
        })
        .unwrap();
        let b = Skill::new(&SkillOptions {
            seed: 7,
            ..opts(Some(0.5))
        })
        .unwrap();
        for i in 0..50 {
            let p = format!("What is {i} + 3? Answer with the number only.");
            assert_eq!(a.answer(&p), b.answer(&p));
            assert_eq!(a.answer(&p), b.answer(&p), "repeat");
        }
        // u is uniform enough: about half of 2000 prompts fall below 0.5.
        let below = (0..2000)
            .filter(|i| draw(3, &format!("p{i}")).0 < 0.5)
            .count();
        assert!((900..1100).contains(&below), "{below}");
    }

    #[test]
    fn skill_extremes_and_regression() {
        let prompts: Vec<String> = (0..100)
            .map(|i| format!("What is {i} * 3 + 1? Answer with the number only."))
            .collect();
        let right = |p: &str| solve(p).unwrap().correct();
        let all = Skill::new(&opts(Some(1.0))).unwrap();
        let none = Skill::new(&opts(Some(0.0))).unwrap();
        for p in &prompts {
            assert_eq!(all.answer(p).unwrap(), right(p));
            assert_ne!(none.answer(p).unwrap(), right(p));
        }
        assert_eq!(all.stats()["arith"]["correct"], 100);
        assert_eq!(none.stats()["arith"]["wrong"], 100);
        assert_eq!(none.stats()["answered"], 100);
        assert_eq!(all.answer("hello"), None, "not a task: not counted");
        assert_eq!(all.stats()["answered"], 100);

        let regress = Skill::new(&SkillOptions {
            after: Some(SkillAfter {
                after: 10,
                skill: 0.0,
            }),
            ..opts(None)
        })
        .unwrap();
        for (n, p) in prompts.iter().enumerate() {
            assert_eq!(regress.answer(p).unwrap() == right(p), n < 10, "{n}");
        }
    }

    #[test]
    fn by_task_overrides_skill() {
        let s = Skill::new(&SkillOptions {
            by_task: Some(parse_by_task("arith=0,extract=1").unwrap()),
            ..opts(Some(0.0))
        })
        .unwrap();
        assert_eq!(s.base, [0.0, 0.0, 1.0]);
        let only_by_task = Skill::new(&SkillOptions {
            by_task: Some(parse_by_task("classify=0.25").unwrap()),
            ..opts(None)
        })
        .unwrap();
        assert_eq!(only_by_task.base, [1.0, 0.25, 1.0]);
        assert!(
            Skill::new(&SkillOptions {
                seed: 3,
                ..opts(None)
            })
            .is_none()
        );
    }

    #[test]
    fn flags_parse() {
        assert_eq!(parse_fraction("0.9"), Ok(0.9));
        assert!(parse_fraction("1.5").is_err());
        assert!(parse_fraction("-0.1").is_err());
        assert!(parse_fraction("NaN").is_err());
        assert_eq!(
            parse_by_task("arith=0.3, classify=0.95,extract=0.6"),
            Ok(SkillByTask([Some(0.3), Some(0.95), Some(0.6)]))
        );
        assert!(parse_by_task("arith=0.3,arith=0.4").is_err());
        assert!(parse_by_task("poetry=0.3").is_err());
        assert!(parse_by_task("arith").is_err());
        assert!(parse_by_task("").is_err());
        assert_eq!(
            parse_after("100:0.5"),
            Ok(SkillAfter {
                after: 100,
                skill: 0.5
            })
        );
        assert!(parse_after("100").is_err());
        assert!(parse_after("x:0.5").is_err());
        assert!(parse_after("10:2").is_err());
    }

    /// The committed dataset is solved exactly: every task recognised, in
    /// its family, with `expected` as the correct answer.
    #[test]
    fn solves_the_example_dataset() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/bench/tasks.jsonl");
        let text = std::fs::read_to_string(path).unwrap();
        let mut n = 0;
        for line in text.lines() {
            let t: Value = serde_json::from_str(line).unwrap();
            let prompt = t["messages"][0]["content"].as_str().unwrap();
            let task = solve(prompt).unwrap_or_else(|| panic!("not solved: {prompt}"));
            assert_eq!(task.family.name(), t["task"], "{prompt}");
            let answer = task.correct();
            match &t["expected"] {
                Value::String(s) => assert_eq!(&answer, s, "{prompt}"),
                object => {
                    assert!(answer.starts_with(r#"{"name":"#), "{answer}");
                    let got: Value = serde_json::from_str(&answer).unwrap();
                    assert_eq!(&got, object, "{prompt}");
                }
            }
            n += 1;
        }
        assert_eq!(n, 300);
    }
}
